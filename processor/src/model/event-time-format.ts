/** How an event's time field is encoded (`spec.source.eventTime.format`); the spec validates it. */
export const EVENT_TIME_FORMATS = [
  'auto',
  'epochMillis',
  'epochSeconds',
  'epochMicros',
  'epochNanos',
  'iso8601',
] as const;

export type EventTimeFormat = (typeof EVENT_TIME_FORMATS)[number];

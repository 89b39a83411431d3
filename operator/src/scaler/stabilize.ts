// When to act on a recommendation: scale up at once, scale down only to the highest
// recommendation seen over the whole stabilization window (as the HPA's behavior does), so a
// noisy signal never makes the replica count go up and down.

export interface ScaleHistoryEntry {
  at: number;
  replicas: number;
}

export interface StabilizerState {
  /** recommendations within the window, oldest first */
  history: ScaleHistoryEntry[];
  /** when this state started being recorded (a new leader starts with no history) */
  since: number;
}

export interface ScaleDecision {
  replicas: number;
  direction: 'up' | 'down' | 'none';
  /** a scale-down held back by the window (the recommendation was lower than current) */
  heldBack: boolean;
  /** replicas the window allows going down to right now */
  stabilized: number;
  state: StabilizerState;
}

export function emptyState(now: number): StabilizerState {
  return { history: [], since: now };
}

/**
 * Decides the replica count. `current` is the count running now, `recommended` the bounded
 * recommendation. A scale-down needs the window to be covered by recorded history: a freshly
 * started (or newly elected) operator first watches for a whole window.
 */
export function stabilize(
  state: StabilizerState,
  current: number,
  recommended: number,
  now: number,
  windowMs: number,
): ScaleDecision {
  const history = [...state.history.filter((e) => e.at > now - windowMs), { at: now, replicas: recommended }];
  const next: StabilizerState = { history, since: state.since };
  if (recommended > current) {
    return { replicas: recommended, direction: 'up', heldBack: false, stabilized: recommended, state: next };
  }
  const covered = now - state.since >= windowMs;
  const highest = Math.max(...history.map((e) => e.replicas));
  const stabilized = covered ? highest : Math.max(highest, current);
  if (stabilized < current) {
    return {
      replicas: stabilized,
      direction: 'down',
      heldBack: stabilized > recommended,
      stabilized,
      state: next,
    };
  }
  return {
    replicas: current,
    direction: 'none',
    heldBack: recommended < current,
    stabilized: Math.min(stabilized, current),
    state: next,
  };
}

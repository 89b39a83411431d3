/**
 * Records of lag under which a replaying version counts as caught up: the processors' default switch
 * threshold (KAPPAFLOW_PROMOTE_MAX_LAG overrides it per processor) and the operator's Reprocessing
 * condition read this one number.
 */
export const CAUGHT_UP_LAG = 1000;

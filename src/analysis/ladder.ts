import type {SynLadder} from '../results/format.js'

/**
 * The client kernel's SYN retransmission schedule, computed from its sysctls (docs/kernel.md §2):
 * tcp_syn_linear_timeouts L gives L+1 gaps of one initial RTO, after which the RTO doubles (capped
 * at TCP_RTO_MAX); tcp_syn_retries R is a time budget, not a count: connect() gives up at the
 * first RTO expiry at or after the budget (2^(R+1) − 1) × RTO. Nothing here is hard-coded to one
 * kernel's defaults.
 */

/** Linux's initial RTO for a SYN (TCP_TIMEOUT_INIT) and its RTO ceiling (TCP_RTO_MAX). */
export const INITIAL_RTO_MS = 1000
export const MAX_RTO_MS = 120_000

export interface LadderSettings {
  /** net.ipv4.tcp_syn_retries, or a socket's TCP_SYNCNT */
  synRetries: number
  /** net.ipv4.tcp_syn_linear_timeouts; 0 on kernels before 6.5, which lack it */
  linearTimeouts: number
  initialRtoMs?: number
  maxRtoMs?: number
}

/**
 * The retransmit budget, as the kernel's tcp_model_timeout(): exponential up to the point where
 * the RTO would reach its ceiling, linear in TCP_RTO_MAX after that.
 */
export function synRetryBudgetMs(synRetries: number, initialRtoMs = INITIAL_RTO_MS, maxRtoMs = MAX_RTO_MS): number {
  const linearBackoffThreshold = Math.floor(Math.log2(maxRtoMs / initialRtoMs))
  // The kernel's two branches (R ≤ t: exponential only; R > t: exponential up to t, then linear) as one sum.
  const exponentialSteps = Math.min(synRetries, linearBackoffThreshold)
  const linearSteps = Math.max(0, synRetries - linearBackoffThreshold)
  return (2 ** (exponentialSteps + 1) - 1) * initialRtoMs + linearSteps * maxRtoMs
}

export function synLadder(settings: LadderSettings): SynLadder {
  const {synRetries, linearTimeouts} = settings
  const initialRtoMs = settings.initialRtoMs ?? INITIAL_RTO_MS
  const maxRtoMs = settings.maxRtoMs ?? MAX_RTO_MS
  if (!(Number.isInteger(synRetries) && synRetries >= 1 && Number.isInteger(linearTimeouts) && linearTimeouts >= 0)) {
    throw new RangeError(`synLadder: synRetries must be an integer ≥ 1 and linearTimeouts ≥ 0 (got ${synRetries}, ${linearTimeouts})`)
  }
  const budgetMs = synRetryBudgetMs(synRetries, initialRtoMs, maxRtoMs)
  const sendTimesMs = [0]
  let rtoMs = initialRtoMs
  let expiredTimeouts = 0
  let at = 0
  for (;;) {
    at += rtoMs
    if (at >= budgetMs) return {synRetries, linearTimeouts, initialRtoMs, sendTimesMs, giveUpMs: at, budgetMs}
    sendTimesMs.push(at)
    expiredTimeouts++
    // The RTO starts doubling only once the number of timeouts exceeds L (docs/kernel.md §2).
    if (expiredTimeouts > linearTimeouts) rtoMs = Math.min(rtoMs * 2, maxRtoMs)
  }
}

import type {Advice} from '../analysis/recommend.js'
import {renderThresholds} from '../analysis/thresholds.js'
import type {StormResult} from '../results/result.js'
import {renderAdvice} from './advice-text.js'
import {renderTextReport} from './text.js'
import {renderVerification} from './verification-text.js'

/**
 * Everything a storm prints after its run: the report, the advice, the verification and the
 * thresholds. `storm` and `analyze` both print through here, so a saved run reads the same.
 */
export function renderRunReport(result: StormResult, advice: Advice | null, serverName?: string): string {
  const lines = [renderTextReport(result)]
  if (advice) lines.push('', ...renderAdvice(advice, serverName))
  if (result.verification) lines.push('', ...renderVerification(result.verification))
  if (result.thresholds && result.thresholds.length > 0) lines.push('', ...renderThresholds(result.thresholds))
  return lines.join('\n')
}

import type {Diagnosis} from '../analysis/diagnose.js'
import {renderAdvice} from './advice-text.js'
import {renderServerEvidence, renderSidesSeen} from './server-evidence-text.js'
import {renderTextReport} from './text.js'
import {renderThresholds} from './threshold-text.js'
import {renderVerification} from './verification-text.js'

/**
 * Everything a storm prints after its run: the report, which half of the storm it saw, the
 * server's side when a watch saw it, the advice, the verification and the thresholds. Every
 * command prints a diagnosis through here, so a saved run reads as the live one.
 */
export function renderRunReport({result, advice, limitFindings, serverName}: Diagnosis): string {
  const lines = [renderTextReport(result, limitFindings), ...renderSidesSeen(result)]
  const serverSide = renderServerEvidence(result)
  if (serverSide.length > 0) lines.push('', ...serverSide)
  lines.push('', ...renderAdvice(advice, serverName))
  if (result.verification) lines.push('', ...renderVerification(result.verification))
  if (result.thresholds && result.thresholds.length > 0) lines.push('', ...renderThresholds(result.thresholds))
  return lines.join('\n')
}

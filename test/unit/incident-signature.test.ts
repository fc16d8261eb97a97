import {describe, expect, it} from 'vitest'

import {INCIDENTS} from '../../src/incidents/catalog.js'
import {checkSignature} from '../../src/incidents/signature.js'
import type {Recommendation} from '../../src/results/format.js'

function advice(knob: string, current: string, proposed: string | null): Recommendation {
  return {knob, current, proposed, evidence: [], lines: []}
}

describe('an incident is reproduced when the run gives the advice it is known for', () => {
  it('matches a backlog raised from the incident’s own value, whatever the exact proposal', () => {
    const check = checkSignature([{knob: 'backlog', current: '50', proposed: 'higher'}], {recommendations: [advice('backlog', '50', '511')]})
    expect(check).toEqual({reproduced: true, lines: ['backlog 50 → 511 (as expected)']})
  })

  it.each([
    // the run read another value: not this incident's setting
    [[advice('backlog', '128', '511')], 'expected backlog 50 → a higher value; the run\'s advice: backlog 128 → 511'],
    // the advice keeps it
    [[advice('backlog', '50', null)], 'expected backlog 50 → a higher value; the run\'s advice: backlog 50, kept'],
    // a "higher" that is not higher
    [[advice('backlog', '50', '31')], 'expected backlog 50 → a higher value; the run\'s advice: backlog 50 → 31'],
    [[advice('net.core.somaxconn', '4096', null)], 'expected backlog 50 → a higher value; the run\'s advice: no advice on backlog'],
    [[], 'expected backlog 50 → a higher value; the run\'s advice: no advice on backlog'],
  ])('does not match %j', (recommendations, line) => {
    expect(checkSignature([{knob: 'backlog', current: '50', proposed: 'higher'}], {recommendations})).toEqual({reproduced: false, lines: [line]})
  })

  it('matches an exact proposal only exactly, and "kept" only when the advice keeps the value', () => {
    const signature = [{knob: 'net.ipv4.tcp_syncookies', current: '0', proposed: '1'}, {knob: 'net.core.somaxconn', current: '4096', proposed: null}] as const
    expect(checkSignature(signature, {recommendations: [advice('net.ipv4.tcp_syncookies', '0', '1'), advice('net.core.somaxconn', '4096', null)]})).toEqual({
      reproduced: true,
      lines: ['net.ipv4.tcp_syncookies 0 → 1 (as expected)', 'net.core.somaxconn 4096, kept (as expected)'],
    })
    const wrong = checkSignature(signature, {recommendations: [advice('net.ipv4.tcp_syncookies', '0', '2'), advice('net.core.somaxconn', '4096', '8192')]})
    expect(wrong).toEqual({
      reproduced: false,
      lines: ["expected net.ipv4.tcp_syncookies 0 → 1; the run's advice: net.ipv4.tcp_syncookies 0 → 2", "expected net.core.somaxconn 4096, kept; the run's advice: net.core.somaxconn 4096 → 8192"],
    })
  })

  it('gives every incident of the gallery a signature', () => {
    expect(INCIDENTS.filter((incident) => incident.signature.length === 0).map((incident) => incident.name)).toEqual([])
  })
})

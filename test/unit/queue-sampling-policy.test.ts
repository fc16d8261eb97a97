import {describe, expect, it} from 'vitest'

import {IDLE_QUEUE_INTERVAL_MS, type SamplingState, busyQueueLength, pressureKey, shouldReadQueue} from '../../src/kernel/queue-sampling-policy.js'

const quiet: SamplingState = {lastPressure: '10,10,0,0', lastQueue: 0, lastReadAt: 1000}

describe('when the accept-queue sampler reads /proc/net/tcp', () => {
  it('reads on the first tick, and on every tick when the pressure counters cannot be read', () => {
    expect(shouldReadQueue({lastPressure: null, lastQueue: null, lastReadAt: 0}, '10,10,0,0', 0)).toBe(true)
    expect(shouldReadQueue(quiet, null, 1001)).toBe(true)
  })

  it('reads as soon as a drop or cookie counter moves', () => {
    expect(shouldReadQueue(quiet, '11,11,0,0', 1040)).toBe(true)
  })

  it('keeps reading on every tick while the last read saw the queue at least half full', () => {
    const busy = busyQueueLength(8) // backlog 8: the queue holds 9, half full from 5
    expect(busy).toBe(5)
    expect(shouldReadQueue({...quiet, lastQueue: 5}, '10,10,0,0', 1040, busy)).toBe(true)
    expect(shouldReadQueue({...quiet, lastQueue: 2}, '10,10,0,0', 1040, busy)).toBe(false)
  })

  it('reads on every tick while any connection waits when the backlog is unknown', () => {
    expect(busyQueueLength(null)).toBe(1)
    expect(shouldReadQueue({...quiet, lastQueue: 1}, '10,10,0,0', 1040, busyQueueLength(null))).toBe(true)
    expect(busyQueueLength(0)).toBe(1)
  })

  it('skips ticks while the queue is empty and nothing moves, but reads once per idle interval', () => {
    expect(shouldReadQueue(quiet, '10,10,0,0', 1040)).toBe(false)
    expect(shouldReadQueue(quiet, '10,10,0,0', 1000 + IDLE_QUEUE_INTERVAL_MS - 1)).toBe(false)
    expect(shouldReadQueue(quiet, '10,10,0,0', 1000 + IDLE_QUEUE_INTERVAL_MS)).toBe(true)
  })

  it('treats a listener that was not found like an empty queue', () => {
    expect(shouldReadQueue({...quiet, lastQueue: null}, '10,10,0,0', 1040)).toBe(false)
  })
})

describe('pressureKey', () => {
  it('joins the drop and cookie counters, and is null when one is missing', () => {
    const counters = {TcpExtListenDrops: 5, TcpExtListenOverflows: 4, TcpExtSyncookiesSent: 2, TcpExtTCPReqQFullDrop: 1, TcpActiveOpens: 99}
    expect(pressureKey(counters)).toBe('5,4,2,1')
    expect(pressureKey({...counters, TcpExtListenDrops: 6})).not.toBe(pressureKey(counters))
    const {TcpExtSyncookiesSent: _, ...missing} = counters
    expect(pressureKey(missing)).toBeNull()
    expect(pressureKey(null)).toBeNull()
  })
})

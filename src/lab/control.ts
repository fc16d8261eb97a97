/**
 * The lab's main thread and its acceptor thread share a few Int32 words. The acceptor blocks in
 * Atomics.wait on WAKE to stall; the main thread sets STOP and WAKE and notifies to end a stall
 * at once. ACCEPTED is read by the main thread even while the acceptor is blocked.
 */
export const WAKE = 0
export const STOP = 1
export const ACCEPTED = 2
/** Set when the storm is about to send its first connect: the stall counts from then (the lab a storm starts, lab/child.ts). */
export const GO = 3
export const CONTROL_WORDS = 4

export function newControl(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT))
}

export function requestStop(control: Int32Array): void {
  Atomics.store(control, STOP, 1)
  // WAKE ≠ 0 makes any later Atomics.wait(control, WAKE, 0) return at once, so no stall starts after this.
  Atomics.store(control, WAKE, 1)
  Atomics.notify(control, WAKE)
  signalGo(control) // an acceptor still waiting for the storm to start must hear the stop too
}

export function signalGo(control: Int32Array): void {
  Atomics.store(control, GO, 1)
  Atomics.notify(control, GO)
}

/** Blocks the calling thread (accepting nothing) until the storm says go or the lab stops. */
export function waitForGo(control: Int32Array): void {
  while (Atomics.load(control, GO) === 0) Atomics.wait(control, GO, 0)
}

/** Blocks the calling thread's event loop (so it accepts nothing) for ms, unless stopped. */
export function blockThread(control: Int32Array, ms: number): void {
  if (ms > 0 && Atomics.load(control, STOP) === 0) Atomics.wait(control, WAKE, 0, ms)
}

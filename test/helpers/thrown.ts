/** What `fn` throws; fails the test when it returns normally instead. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw, but the call returned normally')
}

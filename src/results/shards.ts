import {UsageError} from '../errors.js'
import type {StormResult} from './format.js'

/**
 * Which shards of one split a set of result files holds (docs/kubernetes.md §3): a storm fired
 * from N pods is whole only when every index 1..N is there exactly once. A pod that ran twice (a
 * restarted pod) would add its connects twice; a pod that never wrote its file would leave a
 * hole that the union's percentiles and counts do not show.
 */

export interface ShardFile {
  file: string
  result: Pick<StormResult, 'plan'>
}

export interface ShardCoverage {
  /** N of --shard i/N, when the files are shards of one split; null when none is a shard */
  count: number | null
  /** the indexes present, ascending */
  present: number[]
  /** the indexes 1..N that no file holds, ascending */
  missing: number[]
}

/** Refuses two files of one shard index, naming both (a restarted pod writes its shard again). */
export function assertEachShardOnce(files: readonly ShardFile[]): void {
  const seen = new Map<number, string>()
  for (const {file, result} of files) {
    const shard = result.plan.shard
    if (!shard) continue
    const first = seen.get(shard.index)
    if (first !== undefined) {
      throw new UsageError(`FILE: ${first} and ${file} are both shard ${shard.index}/${shard.count} (a pod that ran twice?); each shard belongs in the merge once`, 'SHARD_TWICE')
    }
    seen.set(shard.index, file)
  }
}

/** The shards present and missing, from the files' own --shard i/N. */
export function shardCoverage(files: readonly ShardFile[]): ShardCoverage {
  const shards = files.map(({result}) => result.plan.shard).filter((shard) => shard !== undefined)
  if (shards.length === 0) return {count: null, present: [], missing: []}
  const count = Math.max(...shards.map((shard) => shard.count))
  const present = [...new Set(shards.map((shard) => shard.index))].sort((a, b) => a - b)
  const missing = Array.from({length: count}, (_, i) => i + 1).filter((index) => !present.includes(index))
  return {count, present, missing}
}

/** Refuses a split with holes unless allowed: a partial storm must not pass a CI gate silently. */
export function assertNoneMissing(coverage: ShardCoverage, {allowMissing = false} = {}): void {
  if (allowMissing || coverage.missing.length === 0) return
  const some = coverage.missing.length === 1 ? `shard ${coverage.missing[0]}` : `shards ${coverage.missing.join(', ')}`
  throw new UsageError(
    `FILE: ${some} of ${coverage.count} missing (the files hold ${coverage.present.join(', ')}); a partial storm is no verdict (--allow-missing merges what is there)`,
    'SHARD_MISSING',
  )
}

import {relative} from 'node:path'

import {BaseSequencer, type TestSpecification} from 'vitest/node'

/**
 * Starts the files that take longest first, in the order `longestFirst` lists them (the rest after
 * them, as vitest orders them); vitest's groups (sequence.groupOrder) and projects still come first.
 *
 * Why: with no results cache — a fresh clone, as in CI — vitest runs the larger source files first,
 * and file size says nothing about run time: the side-by-side group's longest files (real servers
 * and the incident gallery, ~50–70 s each) are short files and started a minute or three into the
 * group, so the group ended on them, with the other workers done. Started first, they overlap the
 * rest and the short files fill in at the end. For the files listed, a results cache left by an
 * earlier run is not used either: their order is the same on every machine.
 */
export function longestFirst(files: readonly string[]) {
  return class LongestFirstSequencer extends BaseSequencer {
    override async sort(specifications: TestSpecification[]): Promise<TestSpecification[]> {
      // BaseSequencer's own order (by file size without a cache) for what the list does not name.
      const byBase = await new BaseSequencer(this.ctx).sort(specifications.map((specification) => specification))
      const baseRank = new Map(byBase.map((specification, index) => [specification, index]))
      const rank = (specification: TestSpecification): number => {
        const listed = files.indexOf(relative(this.ctx.config.root, specification.moduleId))
        return listed === -1 ? files.length : listed
      }
      return [...specifications].sort(
        (a, b) =>
          a.project.config.sequence.groupOrder - b.project.config.sequence.groupOrder ||
          (a.project.name < b.project.name ? -1 : a.project.name > b.project.name ? 1 : 0) ||
          rank(a) - rank(b) ||
          baseRank.get(a)! - baseRank.get(b)!,
      )
    }
  }
}

/**
 * batchedLookup (src/core/batch.ts): the keys asked for in one turn are loaded together, each caller
 * gets its own key's row; with resumeAtOnce, the callers resume that many per macrotask.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { batchedLookup } from '../../src/core/batch.js'

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

test('one load per turn; each caller its own row; callers resumed resumeAtOnce per macrotask', async () => {
  const loads: string[][] = []
  const lookUp = batchedLookup<string, { key: string }>({
    keyOf: (key) => key,
    keyOfRow: (row) => row.key,
    load: async (keys) => {
      loads.push(keys)
      return keys.filter((key) => key !== 'missing').map((key) => ({ key }))
    },
    resumeAtOnce: 2,
  })
  const resolved: string[] = []
  const asked = ['a', 'b', 'a', 'c', 'missing']
  const answers = Promise.all(
    asked.map((key) =>
      lookUp(key).then((row) => {
        resolved.push(key)
        return row?.key ?? null
      }),
    ),
  )
  await tick() // the batch is sent, its first two callers resume
  assert.deepEqual(loads, [['a', 'b', 'c', 'missing']])
  assert.equal(resolved.length, 2)
  await tick()
  assert.equal(resolved.length, 4)
  assert.deepEqual(await answers, ['a', 'b', 'a', 'c', null])
})

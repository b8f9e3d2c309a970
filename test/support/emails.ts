import { randomBytes } from 'node:crypto'

/** A fresh address no other test (of this run, or of an earlier run sharing Redis) has used. */
export const newEmail = (tag = 'user') => `${tag}-${randomBytes(6).toString('hex')}@example.com`

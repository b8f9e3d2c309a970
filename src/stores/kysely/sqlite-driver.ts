import type SQLite from 'better-sqlite3'
import { loadPeer } from '../../core/peer.js'

/**
 * better-sqlite3, loaded when a `sqlite:` URL is first opened (by openDatabase or the doctor). A module
 * of its own so that the declarations apps of other databases read never name better-sqlite3's types.
 */
export const sqliteDriver = (): typeof SQLite => loadPeer<typeof SQLite>('better-sqlite3', 'sqlite:')

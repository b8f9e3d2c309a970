import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/**
 * TOTP secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from the service's secret
 * or a key of its own, with the user's id as associated data, so a row copied onto another user
 * does not decrypt. Stored as `v1.<iv>.<ciphertext+tag>` (base64url).
 */
export class SecretBox {
  private readonly key: Buffer

  constructor(secret: string | Uint8Array) {
    if (secret.length < 16) throw new TypeError('TOTP encryption key: at least 16 characters or bytes')
    this.key = Buffer.from(hkdfSync('sha256', secret, 'fastify-users', 'totp-secret-encryption-v1', 32))
  }

  seal(plaintext: Uint8Array, userId: string | number): string {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    cipher.setAAD(Buffer.from(String(userId)))
    const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    return `v1.${iv.toString('base64url')}.${body.toString('base64url')}`
  }

  /** The plaintext, or null when the box was not sealed with this key for this user. */
  open(sealed: string, userId: string | number): Uint8Array | null {
    const [version, iv, body] = sealed.split('.')
    if (version !== 'v1' || !iv || !body) return null
    try {
      const bytes = Buffer.from(body, 'base64url')
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'))
      decipher.setAAD(Buffer.from(String(userId)))
      decipher.setAuthTag(bytes.subarray(bytes.length - 16))
      return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()])
    } catch {
      return null
    }
  }
}

// fastify-users hosted pages: passkeys (WebAuthn). "Sign in with a passkey" on /sign-in, the passkeys
// section of /account. Loaded after pages.js when hostedPages' `passkeys` option is on. No library:
// the WebAuthn options and answers travel as JSON, with their binary parts in base64url, converted here.
;(() => {
  const configElement = document.getElementById('fu-config')
  if (!configElement) return
  const config = JSON.parse(configElement.textContent || '{}')
  if (!config.passkeys) return
  const api = config.passkeys
  const S = config.strings
  const P = S.passkeys
  const errorBox = document.getElementById('fu-error')
  const statusBox = document.getElementById('fu-status')
  const $ = (selector, root = document) => root.querySelector(selector)
  const format = (template, values) =>
    template.replace(/\{(\w+)\}/g, (whole, name) => (values[name] === undefined ? whole : String(values[name])))
  const supported = typeof window.PublicKeyCredential === 'function' && !!navigator.credentials

  function announceError(message) {
    statusBox.textContent = ''
    errorBox.textContent = message
  }
  function announceStatus(message) {
    errorBox.textContent = ''
    statusBox.textContent = message
  }

  const token = {
    get() {
      try {
        return sessionStorage.getItem(config.storageKey)
      } catch {
        return null
      }
    },
    set(value) {
      try {
        sessionStorage.setItem(config.storageKey, value)
      } catch {
        // storage refused: the next page asks to sign in again
      }
    },
  }

  // ---- base64url <-> bytes, by hand ----

  function fromBase64url(text) {
    const base64 = text.replace(/-/g, '+').replace(/_/g, '/')
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='))
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer
  }
  function toBase64url(buffer) {
    const bytes = new Uint8Array(buffer)
    let binary = ''
    for (const byte of bytes) binary += String.fromCharCode(byte)
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  }
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: fromBase64url(c.id) }))

  /** Creation options (JSON) as `navigator.credentials.create()` takes them. */
  function creationOptions(json) {
    return {
      ...json,
      challenge: fromBase64url(json.challenge),
      user: { ...json.user, id: fromBase64url(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    }
  }
  /** Request options (JSON) as `navigator.credentials.get()` takes them. */
  function requestOptions(json) {
    return { ...json, challenge: fromBase64url(json.challenge), allowCredentials: descriptors(json.allowCredentials) }
  }
  /** A PublicKeyCredential as the JSON our routes read (what `credential.toJSON()` gives). */
  function credentialJson(credential) {
    const r = credential.response
    const response = { clientDataJSON: toBase64url(r.clientDataJSON) }
    if (r.attestationObject) {
      response.attestationObject = toBase64url(r.attestationObject)
      response.transports = typeof r.getTransports === 'function' ? r.getTransports() : []
    } else {
      response.authenticatorData = toBase64url(r.authenticatorData)
      response.signature = toBase64url(r.signature)
      if (r.userHandle) response.userHandle = toBase64url(r.userHandle)
    }
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response,
    }
  }

  async function call(method, url, json, bearer) {
    const headers = { accept: 'application/json' }
    if (json !== undefined) headers['content-type'] = 'application/json'
    if (bearer) headers.authorization = `Bearer ${bearer}`
    try {
      const response = await fetch(url, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        credentials: 'same-origin',
        cache: 'no-store',
      })
      const text = await response.text()
      let body = null
      try {
        body = text ? JSON.parse(text) : null
      } catch {
        body = null
      }
      return { status: response.status, body }
    } catch {
      return { status: 0, body: null }
    }
  }

  /** What went wrong, in words. */
  function problem(result) {
    if (result.status === 0) return S.errors.NETWORK
    if (result.status === 503) return S.errors.SERVICE_UNAVAILABLE
    const detail = result.body?.detail
    if (typeof detail === 'string') {
      if (P.errors[detail]) return P.errors[detail]
      if (S.errors[detail]) return S.errors[detail]
      if (result.status === 400 && /^LOGIN_[A-Z0-9_]+$/.test(detail)) return S.errors.LOGIN_REFUSED
    }
    if (result.status === 422) return S.errors.INVALID_FIELD
    return S.errors.UNKNOWN
  }

  /** The browser's own refusal (the user cancelled, a timeout, no matching passkey). */
  function ceremonyFailed(error) {
    announceError(error && error.name === 'InvalidStateError' ? P.errors.PASSKEY_ALREADY_REGISTERED : P.cancelled)
  }

  /** Where to go after signing in: `next` when it is a path of this site, else the account page. */
  function nextPage() {
    const next = new URLSearchParams(location.search).get('next')
    try {
      const url = next && new URL(next, location.origin)
      if (url && url.origin === location.origin && /^https?:$/.test(url.protocol)) return url.href
    } catch {
      // not a URL: the account page
    }
    return config.paths.account
  }

  function busy(button, on) {
    if (on) {
      button.dataset.label = button.textContent
      button.textContent = S.common.working
      button.setAttribute('aria-disabled', 'true')
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label
      button.removeAttribute('aria-disabled')
    }
  }

  // ---- /sign-in ----

  function signInPage() {
    const slot = $('[data-slot="passkey-sign-in"]')
    if (!slot || !supported) return
    slot.hidden = false
    const button = $('[data-action="passkey-sign-in"]', slot)
    button.addEventListener('click', async () => {
      if (button.getAttribute('aria-disabled')) return
      busy(button, true)
      try {
        const options = await call('POST', api.loginOptions)
        if (options.status !== 200) return announceError(problem(options))
        let credential
        try {
          credential = await navigator.credentials.get({ publicKey: requestOptions(options.body) })
        } catch (error) {
          return ceremonyFailed(error)
        }
        if (!credential) return ceremonyFailed(null)
        const result = await call('POST', api.login, { response: credentialJson(credential) })
        if (result.status === 200 && result.body?.access_token) {
          token.set(result.body.access_token)
          location.assign(nextPage())
          return
        }
        announceError(problem(result))
      } finally {
        busy(button, false)
      }
    })
  }

  /** Asks the authenticator for an assertion answering these request options (JSON); null when refused. */
  async function assertion(options) {
    try {
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) })
      return credential ? credentialJson(credential) : null
    } catch (error) {
      ceremonyFailed(error)
      return null
    }
  }

  /** The sign-in's second step (pages.js' challenge): "Use a passkey" when the ticket allows one. */
  function secondFactorStep() {
    document.addEventListener('fu:two-factor-challenge', (event) => {
      const { ticket, next, methods } = event.detail
      const panel = $('[data-slot="two-factor"]')
      const url = config.api?.login2fa
      if (!panel || !url || !supported || !methods.includes('passkey')) return
      const button = document.createElement('button')
      button.type = 'button'
      button.className = 'fu-button fu-button--secondary'
      button.dataset.action = 'passkey-second-factor'
      button.textContent = P.useAsSecondFactor
      panel.append(button)
      button.addEventListener('click', async () => {
        if (button.getAttribute('aria-disabled')) return
        busy(button, true)
        try {
          const options = await call('POST', `${url}/passkey/options`, { ticket })
          if (options.status !== 200) return announceError(problem(options))
          const passkey = await assertion(options.body)
          if (!passkey) return
          const result = await call('POST', url, { ticket, passkey })
          if (result.status === 200 && result.body?.access_token) {
            token.set(result.body.access_token)
            location.assign(next)
            return
          }
          announceError(problem(result))
        } finally {
          busy(button, false)
        }
      })
    })
  }

  /** A step-up with a passkey (POST <twoFactor>/step-up): true when this session is now recent. */
  async function stepUp(bearer) {
    const base = config.api?.twoFactor
    if (!base || !supported) return false
    const options = await call('POST', `${base}/step-up/passkey/options`, undefined, bearer)
    if (options.status !== 200) return false
    const passkey = await assertion(options.body)
    if (!passkey) return false
    const result = await call('POST', `${base}/step-up`, { passkey }, bearer)
    if (result.status !== 204) announceError(problem(result))
    return result.status === 204
  }
  // pages.js asks when a change needs a recent authentication (deleting the account)
  document.addEventListener('fu:step-up', (event) => {
    event.detail.answer = stepUp(event.detail.token)
  })

  // ---- /account ----

  function accountPage() {
    const section = $('[data-section="passkeys"]')
    const bearer = token.get()
    if (!section || !bearer) return
    const list = $('[data-slot="passkeys"]', section)
    const none = $('[data-slot="passkeys-none"]', section)
    const form = $('[data-form="add-passkey"]', section)
    const nameInput = form.elements.namedItem('name')
    const date = (iso) => new Date(iso).toLocaleDateString(S.lang, { year: 'numeric', month: 'short', day: 'numeric' })

    function item(passkey) {
      const li = document.createElement('li')
      li.dataset.passkey = passkey.id
      const name = document.createElement('span')
      name.className = 'fu-passkey-name'
      name.textContent = passkey.name
      const rename = document.createElement('button')
      rename.type = 'button'
      rename.className = 'fu-button fu-button--secondary'
      rename.textContent = P.rename
      rename.setAttribute('aria-label', format(P.renameAction, { name: passkey.name }))
      const remove = document.createElement('button')
      remove.type = 'button'
      remove.className = 'fu-button fu-button--secondary'
      remove.textContent = P.remove
      remove.setAttribute('aria-label', format(P.removeLabel, { name: passkey.name }))
      const meta = document.createElement('p')
      meta.className = 'fu-hint fu-passkey-meta'
      meta.textContent = [
        format(P.created, { date: date(passkey.created_at) }),
        passkey.last_used_at ? format(P.lastUsed, { date: date(passkey.last_used_at) }) : '',
      ]
        .filter(Boolean)
        .join(', ')
      li.append(name, rename, remove, meta)

      rename.addEventListener('click', () => {
        const field = document.createElement('input')
        field.type = 'text'
        field.maxLength = 100
        field.value = passkey.name
        field.setAttribute('aria-label', format(P.renameLabel, { name: passkey.name }))
        const save = document.createElement('button')
        save.type = 'button'
        save.className = 'fu-button'
        save.textContent = P.save
        name.replaceWith(field)
        rename.replaceWith(save)
        field.focus()
        const commit = async () => {
          const wanted = field.value.trim()
          if (!wanted) return field.focus()
          const result = await call('PATCH', `${api.list}/${encodeURIComponent(passkey.id)}`, { name: wanted }, bearer)
          if (result.status !== 200) return announceError(problem(result))
          announceStatus(format(P.renamed, { name: result.body.name }))
          await refresh()
        }
        save.addEventListener('click', commit)
        field.addEventListener('keydown', (event) => {
          if (event.key === 'Enter') {
            event.preventDefault()
            commit()
          }
        })
      })
      remove.addEventListener('click', async () => {
        const url = `${api.list}/${encodeURIComponent(passkey.id)}`
        let result = await call('DELETE', url, undefined, bearer)
        // a passkey is a second factor: deleting one needs a recent authentication, which a passkey gives
        if (result.body?.detail === 'STEP_UP_REQUIRED' && (await stepUp(bearer)))
          result = await call('DELETE', url, undefined, bearer)
        if (result.status !== 204) return announceError(problem(result))
        announceStatus(format(P.removed, { name: passkey.name }))
        await refresh()
      })
      return li
    }

    async function refresh() {
      const result = await call('GET', api.list, undefined, bearer)
      if (result.status !== 200 || !Array.isArray(result.body)) return announceError(problem(result))
      list.replaceChildren(...result.body.map(item))
      none.hidden = result.body.length > 0
    }

    if (!supported) {
      form.hidden = true
      const note = document.createElement('p')
      note.textContent = P.unsupported
      form.after(note)
    }
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      const button = $('button[type=submit]', form)
      if (button.getAttribute('aria-disabled')) return
      busy(button, true)
      try {
        const options = await call('POST', api.registerOptions, undefined, bearer)
        if (options.status !== 200) return announceError(problem(options))
        let credential
        try {
          credential = await navigator.credentials.create({ publicKey: creationOptions(options.body) })
        } catch (error) {
          return ceremonyFailed(error)
        }
        if (!credential) return ceremonyFailed(null)
        const name = nameInput.value.trim()
        const result = await call(
          'POST',
          api.register,
          { response: credentialJson(credential), ...(name && { name }) },
          bearer,
        )
        if (result.status !== 201) return announceError(problem(result))
        form.reset()
        announceStatus(format(P.added, { name: result.body.name }))
        await refresh()
      } finally {
        busy(button, false)
      }
    })
    refresh()
  }

  const page = document.body.dataset.page
  if (page === 'sign-in') {
    signInPage()
    secondFactorStep()
  }
  if (page === 'account') accountPage()
})()

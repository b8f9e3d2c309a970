// fastify-users hosted pages: the little script that makes the server-rendered forms talk
// to the app's own JSON routes (same-origin fetch). No framework, no inline script, no
// third-party request; tokens are never logged and are dropped from the address bar at once.
;(() => {
  const configElement = document.getElementById('fu-config')
  if (!configElement) return
  const config = JSON.parse(configElement.textContent || '{}')
  const S = config.strings
  const errorBox = document.getElementById('fu-error')
  const statusBox = document.getElementById('fu-status')

  const $ = (selector, root = document) => root.querySelector(selector)
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector))
  /** A date and time in the page's language (the browser's own format if the code is not one Intl knows). */
  const dateTime = (() => {
    let formatter
    try {
      formatter = new Intl.DateTimeFormat(S.lang, { dateStyle: 'medium', timeStyle: 'short' })
    } catch {
      formatter = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' })
    }
    return (iso) => formatter.format(new Date(iso))
  })()
  const format = (template, values) =>
    template.replace(/\{(\w+)\}/g, (whole, name) => (values[name] === undefined ? whole : String(values[name])))

  // ---- messages (two live regions that are always in the page) ----

  function announceError(message) {
    statusBox.textContent = ''
    errorBox.textContent = message
  }
  function announceStatus(message) {
    errorBox.textContent = ''
    statusBox.textContent = message
  }
  function clearMessages() {
    errorBox.textContent = ''
    statusBox.textContent = ''
  }

  // ---- the access token: this tab's sessionStorage only ----

  const session = {
    get() {
      try {
        return sessionStorage.getItem(config.storageKey)
      } catch {
        return null
      }
    },
    set(token) {
      try {
        sessionStorage.setItem(config.storageKey, token)
      } catch {
        // storage refused (private mode): the user signs in again on the next page
      }
    },
    clear() {
      try {
        sessionStorage.removeItem(config.storageKey)
      } catch {
        // nothing stored
      }
    },
  }

  /** The token of a mail link, read once and removed from the address bar and history. */
  function takeToken() {
    const query = new URLSearchParams(location.search)
    const fragment = new URLSearchParams(location.hash.slice(1))
    const token = query.get('token') || fragment.get('token')
    if (query.has('token') || fragment.has('token')) {
      query.delete('token')
      const rest = query.toString()
      history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : ''))
    }
    return token || null
  }

  /** A JWT's claims, unverified: only to say "expired" rather than "invalid" and to prefill an address. */
  function claimsOf(token) {
    try {
      const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
      const binary = atob(part.padEnd(Math.ceil(part.length / 4) * 4, '='))
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))))
    } catch {
      return {}
    }
  }
  const isExpired = (claims) => typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()

  /**
   * Where to go after signing in: `value` resolved as a URL against this site's origin, followed
   * only when it stays on that origin, and then as the absolute URL it resolved to (a path such
   * as `/.//evil.example` resolves to the path `//evil.example`, which, assigned as it is, would
   * be read as another host). Anything else: `fallback`. Pure (test/pages/next.test.ts runs it).
   */
  function safeNext(value, origin, fallback) {
    if (typeof value !== 'string' || value === '' || value.length > 2048) return fallback
    // No control characters, spaces or backslashes: browsers drop or rewrite them while resolving.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    if (/[\u0000-\u0020\u007f\\]/.test(value)) return fallback
    let url
    try {
      url = new URL(value, origin)
    } catch {
      return fallback
    }
    if (url.origin !== origin || url.username !== '' || url.password !== '') return fallback
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return fallback
    return url.href
  }

  // ---- our JSON routes ----

  async function call(method, url, options = {}) {
    const headers = { accept: 'application/json' }
    let body
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.json)
    } else if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(options.form).toString()
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`
    let response
    try {
      response = await fetch(url, { method, headers, body, credentials: 'same-origin', cache: 'no-store' })
    } catch {
      return { status: 0, body: null }
    }
    let data = null
    try {
      const text = await response.text()
      data = text ? JSON.parse(text) : null
    } catch {
      data = null
    }
    return { status: response.status, body: data }
  }

  const FIELD_OF_CODE = {
    REGISTER_USER_ALREADY_EXISTS: 'email',
    UPDATE_USER_EMAIL_ALREADY_EXISTS: 'email',
    REGISTER_USERNAME_ALREADY_EXISTS: 'username',
    UPDATE_USER_USERNAME_ALREADY_EXISTS: 'username',
  }

  /** What went wrong, in words: { message, code, field }. */
  function describe(result) {
    const { status, body } = result
    if (status === 0) return { message: S.errors.NETWORK }
    if (status === 503) return { message: S.errors.SERVICE_UNAVAILABLE, code: 'SERVICE_UNAVAILABLE' }
    const detail = body?.detail
    if (detail && typeof detail === 'object' && !Array.isArray(detail) && typeof detail.code === 'string') {
      if (/_INVALID_PASSWORD$/.test(detail.code)) {
        const reason = String(detail.reason || '').replace(/\.+$/, '')
        return { message: format(S.errors.INVALID_PASSWORD, { reason }), code: detail.code, field: 'password' }
      }
      return { message: S.errors[detail.code] || S.errors.UNKNOWN, code: detail.code }
    }
    if (typeof detail === 'string' && S.errors[detail]) {
      return { message: S.errors[detail], code: detail, field: FIELD_OF_CODE[detail] }
    }
    // an app's login veto (onBeforeLogin's LoginRefused) with a code the strings do not word
    if (status === 400 && typeof detail === 'string' && /^LOGIN_[A-Z0-9_]+$/.test(detail)) {
      return { message: S.errors.LOGIN_REFUSED, code: detail }
    }
    if (status === 422 && Array.isArray(detail)) {
      const loc = detail.find((d) => Array.isArray(d?.loc))?.loc ?? []
      const field = typeof loc[1] === 'string' ? loc[1] : undefined
      return { message: field === 'email' ? S.errors.INVALID_EMAIL : S.errors.INVALID_FIELD, field }
    }
    return { message: S.errors.UNKNOWN }
  }

  // ---- forms ----

  function fieldError(input, message) {
    const holder = document.getElementById(`${input.id}-error`)
    if (holder) holder.textContent = message
    input.setAttribute('aria-invalid', 'true')
  }

  function clearForm(form) {
    clearMessages()
    for (const input of $$('input', form)) {
      input.removeAttribute('aria-invalid')
      const holder = document.getElementById(`${input.id}-error`)
      if (holder) holder.textContent = ''
    }
  }

  /** Shows a problem where it belongs: beside its field (focused), else in the alert region. */
  function fail(form, problem) {
    const input = problem.field && form.elements.namedItem(problem.field)
    if (input instanceof HTMLInputElement) {
      fieldError(input, problem.message)
      input.focus()
    } else {
      announceError(problem.message)
    }
  }

  function ruleMet(rule, value, password, email) {
    const length = Array.from(password).length
    if (rule === 'minLength') return length >= value
    if (rule === 'maxLength') return length <= value
    if (rule === 'notContainingEmail') return email ? !password.toLowerCase().includes(email.toLowerCase()) : null
    return null
  }

  /** Marks each rule met or not as one types; returns the text of the first unmet rule. */
  function checkRules(input, email) {
    const rules = document.getElementById(`${input.id}-rules`)
    if (!rules) return null
    let unmet = null
    for (const item of $$('li[data-rule]', rules)) {
      const met = input.value === '' ? null : ruleMet(item.dataset.rule, Number(item.dataset.value), input.value, email)
      const state = $('.fu-rule-state', item)
      if (met === null) {
        item.removeAttribute('data-met')
        state.textContent = ''
        continue
      }
      item.dataset.met = String(met)
      state.textContent = ` ${met ? S.passwordRules.met : S.passwordRules.unmet}`
      if (!met && unmet === null) unmet = $('.fu-rule-text', item).textContent
    }
    return unmet
  }

  /** The e-mail address new-password rules are checked against, where the page knows it. */
  let knownEmail = () => $('input[type=email]')?.value.trim() || null

  /** Required fields, e-mail format and password rules; returns the first invalid input. */
  function validate(form) {
    let first = null
    for (const input of $$('input', form)) {
      let message = null
      if (input.required && input.value.trim() === '') message = S.errors.REQUIRED
      else if (input.type === 'email' && !input.validity.valid) message = S.errors.INVALID_EMAIL
      else if (input.hasAttribute('data-new-password')) {
        const unmet = checkRules(input, knownEmail())
        if (unmet) message = format(S.errors.INVALID_PASSWORD, { reason: unmet })
      }
      if (message) {
        fieldError(input, message)
        first = first || input
      }
    }
    return first
  }

  function setBusy(form, busy) {
    const button = $('button[type=submit]', form)
    form.setAttribute('aria-busy', String(busy))
    if (busy) {
      form.dataset.busy = 'true'
      button.dataset.label = button.textContent
      button.textContent = S.common.working
      button.setAttribute('aria-disabled', 'true')
    } else {
      delete form.dataset.busy
      if (button.dataset.label) button.textContent = button.dataset.label
      button.removeAttribute('aria-disabled')
    }
  }

  function onSubmit(form, handler) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      if (form.dataset.busy) return
      clearForm(form)
      const invalid = validate(form)
      if (invalid) {
        invalid.focus()
        return
      }
      setBusy(form, true)
      try {
        await handler()
      } catch {
        announceError(S.errors.UNKNOWN)
      } finally {
        setBusy(form, false)
      }
    })
  }

  /** Shows one of the page's panels (`data-state`), puts its message in, and moves focus to it. */
  function show(state, message, options = {}) {
    for (const panel of $$('[data-state]')) panel.hidden = panel.dataset.state !== state
    const slot = $(`[data-slot="${state}-message"]`)
    if (slot && message !== undefined) slot.textContent = message
    if (options.focus === false) return
    const heading = $(`[data-state="${state}"] h2`)
    ;(heading || document.getElementById('fu-title')).focus()
  }

  const value = (form, name) => {
    const input = form.elements.namedItem(name)
    return input instanceof HTMLInputElement ? input.value : ''
  }

  // ---- every page ----

  // The language links keep the rest of the address (`next`, `notice`): only `lang` changes.
  for (const link of $$('a[data-lang]')) {
    const query = new URLSearchParams(location.search)
    query.delete('token')
    query.set('lang', link.dataset.lang)
    link.search = `?${query}`
  }

  for (const button of $$('[data-toggle-password]')) {
    button.hidden = false
    button.addEventListener('click', () => {
      const input = document.getElementById(button.dataset.togglePassword)
      const reveal = input.type === 'password'
      input.type = reveal ? 'text' : 'password'
      button.textContent = reveal ? button.dataset.hide : button.dataset.show
    })
  }
  for (const input of $$('input[data-new-password]')) {
    input.addEventListener('input', () => checkRules(input, knownEmail()))
  }

  // ---- second factors (TWO_FACTOR) ----

  /** The sign-in's second step: the code form in place of the password form, then the ticket's login. */
  function challenge(ticket, next, methods = []) {
    const panel = $('[data-slot="two-factor"]')
    const form = $('[data-form="two-factor"]')
    if (!panel || !form || !config.api.login2fa) return announceError(S.errors.UNKNOWN)
    $('[data-form="sign-in"]').hidden = true
    panel.hidden = false
    clearMessages()
    $('h2', panel).focus()
    // a user whose only factor is a passkey types no code: passkeys.js offers "Use a passkey"
    form.hidden = methods.length > 0 && methods.every((m) => m === 'passkey')
    document.dispatchEvent(new CustomEvent('fu:two-factor-challenge', { detail: { ticket, next, methods } }))
    if (!form.hidden) form.elements.namedItem('code').focus()
    onSubmit(form, async () => {
      const code = value(form, 'code').trim()
      const result = await call('POST', config.api.login2fa, { json: { ticket, code } })
      if (result.status === 200 && result.body?.access_token) {
        session.set(result.body.access_token)
        location.assign(next)
        return
      }
      const problem = describe(result)
      problem.field = 'code'
      fail(form, problem)
    })
  }

  /** The account page's section: status, TOTP enrolment with its QR code, recovery codes shown once, disabling. */
  async function twoFactorSection() {
    const base = config.api.twoFactor
    const section = $('section[data-slot="two-factor"]')
    if (!base || !section) return
    const status = $('[data-slot="two-factor-status"]', section)
    const setup = $('[data-action="totp-setup"]', section)
    const enrol = $('[data-slot="totp-enrol"]', section)
    const codes = $('[data-slot="recovery-codes"]', section)
    const disable = $('[data-form="two-factor-disable"]', section)
    const enable = $('[data-form="totp-enable"]', section)

    async function refresh() {
      const result = await call('GET', base, { token: session.get() })
      if (result.status !== 200) return announceError(describe(result).message)
      const on = !!result.body.enabled
      status.textContent = on
        ? format(status.dataset.on, { count: result.body.recovery_codes_remaining })
        : status.dataset.off
      setup.hidden = on
      disable.hidden = !on
      enrol.hidden = true
    }

    setup.addEventListener('click', async () => {
      const result = await call('POST', `${base}/totp/setup`, { token: session.get() })
      if (result.status !== 200) return announceError(describe(result).message)
      const qr = await fetch(config.api.qr, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: result.body.otpauth_url }),
        credentials: 'same-origin',
        cache: 'no-store',
      })
      const holder = $('[data-slot="totp-qr"]', section)
      holder.textContent = ''
      if (qr.ok) {
        const svg = new DOMParser().parseFromString(await qr.text(), 'image/svg+xml').documentElement
        if (svg.nodeName === 'svg') {
          svg.setAttribute('role', 'img')
          svg.setAttribute('aria-label', S.twoFactor.qrCode)
          holder.append(document.importNode(svg, true))
        }
      }
      $('[data-slot="totp-secret"]', section).textContent = result.body.secret
      setup.hidden = true
      enrol.hidden = false
      enable.elements.namedItem('code').focus()
    })

    onSubmit(enable, async () => {
      const result = await call('POST', `${base}/totp/enable`, {
        json: { code: value(enable, 'code').trim() },
        token: session.get(),
      })
      if (result.status !== 200) {
        const problem = describe(result)
        problem.field = 'code'
        return fail(enable, problem)
      }
      enable.reset()
      enrol.hidden = true
      const list = $('[data-slot="recovery-list"]', section)
      list.textContent = ''
      for (const code of result.body.recovery_codes) {
        const item = document.createElement('li')
        item.textContent = code
        list.append(item)
      }
      codes.hidden = false
      $('h3', codes).focus()
    })

    $('[data-action="recovery-done"]', section).addEventListener('click', async () => {
      $('[data-slot="recovery-list"]', section).textContent = ''
      codes.hidden = true
      await refresh()
    })

    onSubmit(disable, async () => {
      const token = session.get()
      const code = value(disable, 'code').trim()
      const payload = { json: { password: value(disable, 'password') }, token }
      let result = await call('POST', `${base}/disable`, payload)
      if (describe(result).code === 'STEP_UP_REQUIRED') {
        // not recently authenticated: the code confirms it is the user, then the password turns it off
        const stepUp = await call('POST', `${base}/step-up`, { json: { code }, token })
        if (stepUp.status !== 204) {
          const problem = describe(stepUp)
          problem.field = 'code'
          return fail(disable, problem)
        }
        result = await call('POST', `${base}/disable`, payload)
      }
      if (result.status !== 204) {
        const problem = describe(result)
        if (problem.code === 'TWO_FACTOR_BAD_PROOF') problem.field = 'password'
        return fail(disable, problem)
      }
      disable.reset()
      announceStatus(S.twoFactor.disabled)
      await refresh()
    })

    await refresh()
  }

  // ---- recent activity (the audit log's GET /users/me/events) ----

  /** "Chrome (Linux)" from a User-Agent; the start of it when no browser is recognised. */
  function shortAgent(agent) {
    if (!agent) return null
    const browsers = [
      ['Edge', /Edg\//],
      ['Opera', /OPR\//],
      ['Firefox', /Firefox\//],
      ['Chrome', /Chrom(e|ium)\//],
      ['Safari', /Safari\//],
    ]
    const systems = [
      ['Android', /Android/],
      ['iOS', /iPhone|iPad|iPod/],
      ['Windows', /Windows/],
      ['macOS', /Mac OS X|Macintosh/],
      ['ChromeOS', /CrOS/],
      ['Linux', /Linux/],
    ]
    const browser = browsers.find(([, pattern]) => pattern.test(agent))?.[0]
    const system = systems.find(([, pattern]) => pattern.test(agent))?.[0]
    if (browser) return system ? `${browser} (${system})` : browser
    return agent.length > 40 ? `${agent.slice(0, 40)}…` : agent
  }

  /** The user's last events, ten at a time; the section stays hidden where the route is absent (404). */
  async function recentActivity() {
    const section = $('[data-section="activity"]')
    if (!section || !config.api.events) return
    const A = S.activity
    const list = $('[data-slot="events"]', section)
    const more = $('[data-action="events-more"]', section)
    let next = null
    async function load(before) {
      const query = new URLSearchParams({ limit: '10' })
      if (before) query.set('before', before)
      const result = await call('GET', `${config.api.events}?${query}`, { token: session.get() })
      if (result.status !== 200 || !Array.isArray(result.body?.items)) {
        if (!before) section.hidden = true
        else announceError(describe(result).message)
        return
      }
      section.hidden = false
      for (const item of result.body.items) {
        const entry = document.createElement('li')
        entry.className = 'fu-event'
        entry.dataset.eventType = item.type
        entry.dataset.outcome = item.outcome
        const title = document.createElement('strong')
        title.textContent = A.types[item.type] || item.type
        const heading = document.createElement('div')
        heading.append(title)
        if (item.outcome === 'failure') {
          const failed = document.createElement('span')
          failed.className = 'fu-event-failed'
          failed.textContent = ` · ${A.failed}`
          heading.append(failed)
        }
        const details = document.createElement('span')
        details.textContent = format(A.details, {
          time: dateTime(item.at),
          ip: item.ip || '—',
          agent: shortAgent(item.user_agent) || A.unknownAgent,
        })
        entry.append(heading, details)
        list.append(entry)
      }
      $('[data-slot="events-empty"]', section).hidden = list.children.length > 0
      next = typeof result.body.next === 'string' ? result.body.next : null
      more.hidden = !next
    }
    more.addEventListener('click', async () => {
      more.disabled = true
      await load(next)
      more.disabled = false
    })
    await load(null)
  }

  // ---- the pages ----

  const pages = {
    'sign-in'() {
      const form = $('[data-form="sign-in"]')
      const next = safeNext(new URLSearchParams(location.search).get('next'), location.origin, config.paths.account)
      onSubmit(form, async () => {
        const result = await call('POST', config.api.login, {
          form: { username: value(form, 'email').trim(), password: value(form, 'password') },
        })
        if (result.status === 200 && result.body?.access_token) {
          session.set(result.body.access_token)
          location.assign(next)
          return
        }
        if (result.body?.detail?.code === 'LOGIN_2FA_REQUIRED') {
          const { ticket, methods } = result.body.detail
          return challenge(ticket, next, Array.isArray(methods) ? methods : [])
        }
        const problem = describe(result)
        announceError(problem.message)
        $('[data-slot="resend-link"]').hidden = problem.code !== 'LOGIN_USER_NOT_VERIFIED'
      })
    },

    'sign-up'() {
      const form = $('[data-form="sign-up"]')
      onSubmit(form, async () => {
        const email = value(form, 'email').trim()
        const payload = { email, password: value(form, 'password') }
        for (const field of config.signUpFields) {
          const entered = value(form, field.name).trim()
          if (entered) payload[field.name] = entered
          else if (field.whenBlank === 'null') payload[field.name] = null
        }
        const result = await call('POST', config.api.register, { json: payload })
        if (result.status !== 201) return fail(form, describe(result))
        let message = S.signUp.doneNoMail
        if (config.requestVerificationOnSignUp) {
          const sent = await call('POST', config.api.requestVerifyToken, { json: { email } })
          if (sent.status === 202) message = format(S.signUp.done, { email })
        }
        show('done', message)
      })
    },

    'forgot-password'() {
      const form = $('[data-form="forgot-password"]')
      onSubmit(form, async () => {
        const email = value(form, 'email').trim()
        const result = await call('POST', config.api.forgotPassword, { json: { email } })
        if (result.status === 202) show('done', format(S.forgot.done, { email }))
        else fail(form, describe(result))
      })
    },

    'reset-password'() {
      const form = $('[data-form="reset-password"]')
      const token = takeToken()
      const claims = token ? claimsOf(token) : {}
      knownEmail = () => null
      const badLink = (message) => {
        announceError(message)
        show('bad-link', undefined, { focus: false })
      }
      if (!token) return badLink(S.reset.missing)
      if (isExpired(claims)) return badLink(S.reset.expired)
      onSubmit(form, async () => {
        const result = await call('POST', config.api.resetPassword, {
          json: { token, password: value(form, 'password') },
        })
        if (result.status === 200) return show('done', S.reset.done)
        const problem = describe(result)
        if (problem.code === 'RESET_PASSWORD_BAD_TOKEN') badLink(isExpired(claims) ? S.reset.expired : S.reset.invalid)
        else fail(form, problem)
      })
    },

    async verify() {
      const form = $('[data-form="resend"]')
      onSubmit(form, async () => {
        const email = value(form, 'email').trim()
        const result = await call('POST', config.api.requestVerifyToken, { json: { email } })
        if (result.status === 202) show('resent', format(S.verify.resent, { email }))
        else fail(form, describe(result))
      })
      const token = takeToken()
      if (!token) return show('resend', S.verify.missing, { focus: false })
      const claims = claimsOf(token)
      if (typeof claims.email === 'string') form.elements.namedItem('email').value = claims.email
      const resend = (problem) => {
        announceError(problem)
        show('resend', S.verify.resendIntro, { focus: false })
      }
      if (isExpired(claims)) return resend(S.verify.expired)
      announceStatus(S.verify.working)
      const result = await call('POST', config.api.verify, { json: { token } })
      const problem = result.status === 200 ? null : describe(result)
      if (problem && problem.code !== 'VERIFY_USER_ALREADY_VERIFIED') {
        if (problem.code === 'VERIFY_USER_BAD_TOKEN' || result.status === 422) return resend(S.verify.invalid)
        return resend(problem.message)
      }
      clearMessages()
      const link = $('[data-slot="continue"]')
      if (session.get()) {
        link.href = link.dataset.account
        link.textContent = link.dataset.accountLabel
      }
      show('done', problem ? S.verify.already : format(S.verify.done, { email: result.body?.email ?? '' }))
    },

    async 'confirm-email-change'() {
      const C = S.confirmEmailChange
      const badLink = (message) => {
        announceError(message)
        show('bad-link', undefined, { focus: false })
      }
      const token = takeToken()
      if (!token) return badLink(C.missing)
      const claims = claimsOf(token)
      if (isExpired(claims)) return badLink(C.expired)
      announceStatus(C.working)
      const result = await call('POST', config.api.confirmEmailChange, { json: { token } })
      if (result.status === 200) {
        clearMessages()
        // every session of the user has ended: this tab signs in again, with the new address
        session.clear()
        return show('done', format(C.done, { email: result.body?.email ?? '' }))
      }
      const problem = describe(result)
      if (problem.code === 'EMAIL_CHANGE_BAD_TOKEN' || result.status === 422) {
        return badLink(isExpired(claims) ? C.expired : C.invalid)
      }
      badLink(problem.message)
    },

    async account() {
      const signIn = (notice) => {
        const query = new URLSearchParams({ next: location.pathname })
        if (notice) query.set('notice', notice)
        location.replace(`${config.paths.signIn}?${query}`)
      }
      const token = session.get()
      if (!token) return signIn()
      const me = await call('GET', config.api.me, { token })
      if (me.status === 401) {
        session.clear()
        return signIn('session-expired')
      }
      if (me.status !== 200 || !me.body) {
        $('[data-state="loading"]').hidden = true
        return announceError(describe(me).message)
      }
      const user = me.body
      knownEmail = () => user.email
      for (const cell of $$('[data-field]')) {
        const shown = user[cell.dataset.field]
        const empty = shown === null || shown === undefined || shown === ''
        cell.textContent = empty ? cell.dataset.empty : String(shown)
        cell.classList.toggle('fu-empty', empty)
      }
      const verified = $('[data-slot="verified"]')
      verified.textContent = user.is_verified ? verified.dataset.yes : verified.dataset.no
      const resend = $('[data-action="resend"]')
      resend.hidden = !!user.is_verified
      show('ready', undefined, { focus: false })

      await twoFactorSection()

      resend.addEventListener('click', async () => {
        const result = await call('POST', config.api.requestVerifyToken, { json: { email: user.email } })
        if (result.status === 202) announceStatus(format(S.account.resent, { email: user.email }))
        else announceError(describe(result).message)
      })

      const form = $('[data-form="change-password"]')
      onSubmit(form, async () => {
        // The route itself asks only for the token; the page also asks for the current password.
        const check = await call('POST', config.api.login, {
          form: { username: user.email, password: value(form, 'current_password') },
        })
        // a user with a second factor: the challenge means the password was right; the session's token changes it
        if (check.status !== 200 && describe(check).code !== 'LOGIN_2FA_REQUIRED') {
          const problem = describe(check)
          if (problem.code === 'LOGIN_BAD_CREDENTIALS') problem.field = 'current_password'
          if (problem.field) problem.message = S.errors.CURRENT_PASSWORD_WRONG
          return fail(form, problem)
        }
        const result = await call('PATCH', config.api.me, {
          json: { password: value(form, 'password') },
          token: check.body?.access_token || session.get(),
        })
        if (result.status !== 200) return fail(form, describe(result))
        if (check.body?.access_token) session.set(check.body.access_token)
        form.reset()
        for (const input of $$('input[data-new-password]', form)) checkRules(input, user.email)
        announceStatus(S.account.changed)
      })

      // A new address: written at once, or (e-mail changes confirmed) a link goes to it and the address stays.
      const emailForm = $('[data-form="change-email"]')
      onSubmit(emailForm, async () => {
        const wanted = value(emailForm, 'email').trim()
        const check = await call('POST', config.api.login, {
          form: { username: user.email, password: value(emailForm, 'current_password') },
        })
        if (check.status !== 200) {
          const problem = describe(check)
          if (problem.code === 'LOGIN_BAD_CREDENTIALS') problem.field = 'current_password'
          if (problem.field) problem.message = S.errors.CURRENT_PASSWORD_WRONG
          return fail(emailForm, problem)
        }
        if (check.body?.access_token) session.set(check.body.access_token)
        const result = await call('PATCH', config.api.me, { json: { email: wanted }, token: session.get() })
        if (result.status !== 200 || !result.body) return fail(emailForm, describe(result))
        emailForm.reset()
        if (result.body.email === user.email && wanted.toLowerCase() !== user.email.toLowerCase()) {
          return announceStatus(format(S.account.emailChangeSent, { email: wanted, current: user.email }))
        }
        user.email = result.body.email
        user.is_verified = result.body.is_verified
        $('[data-field="email"]').textContent = user.email
        verified.textContent = user.is_verified ? verified.dataset.yes : verified.dataset.no
        resend.hidden = !!user.is_verified
        announceStatus(format(S.account.emailChanged, { email: user.email }))
      })
      // Where the user is signed in: text nodes only (a User-Agent is whatever a client sent).
      const sessionList = $('[data-slot="sessions"]')
      const when = (iso) => (iso ? dateTime(iso) : '—')
      async function loadSessions() {
        const result = await call('GET', config.api.sessions, { token: session.get() })
        if (result.status !== 200 || !Array.isArray(result.body)) return announceError(describe(result).message)
        sessionList.replaceChildren(
          ...result.body.map((item) => {
            const entry = document.createElement('li')
            entry.className = 'fu-session'
            entry.dataset.sessionId = item.id
            const agent = document.createElement('strong')
            agent.textContent = item.user_agent || S.account.sessionUnknownAgent
            const details = document.createElement('span')
            details.textContent = format(S.account.sessionDetails, {
              ip: item.ip || '—',
              created: when(item.created_at),
              used: when(item.last_used_at),
            })
            entry.append(agent, details)
            if (item.current) {
              const badge = document.createElement('span')
              badge.className = 'fu-session-current'
              badge.textContent = S.account.sessionCurrent
              entry.append(badge)
            } else {
              const end = document.createElement('button')
              end.type = 'button'
              end.className = 'fu-button fu-button--secondary'
              end.dataset.action = 'end-session'
              end.textContent = S.account.sessionEnd
              end.setAttribute(
                'aria-label',
                format(S.account.sessionEndLabel, { agent: agent.textContent, created: when(item.created_at) }),
              )
              end.addEventListener('click', async () => {
                end.disabled = true
                const ended = await call('DELETE', `${config.api.sessions}/${encodeURIComponent(item.id)}`, {
                  token: session.get(),
                })
                // 404: it had ended already; either way the list is read again
                if (ended.status === 204 || ended.status === 404) announceStatus(S.account.sessionEnded)
                else announceError(describe(ended).message)
                await loadSessions()
              })
              entry.append(end)
            }
            return entry
          }),
        )
        $('[data-slot="sessions-empty"]').hidden = result.body.some((item) => !item.current)
      }
      await loadSessions()
      await recentActivity()

      $('[data-action="sign-out"]').addEventListener('click', async () => {
        // The page keeps no refresh token: its family (the session listed as this browser's) is ended by id.
        const current = await call('GET', config.api.sessions, { token: session.get() })
        const mine = Array.isArray(current.body) ? current.body.find((item) => item.current) : undefined
        if (mine)
          await call('DELETE', `${config.api.sessions}/${encodeURIComponent(mine.id)}`, { token: session.get() })
        await call('POST', config.api.logout, { token: session.get() })
        session.clear()
        location.assign(`${config.paths.signIn}?notice=signed-out`)
      })

      // "Delete my account" (only where the app turned it on): the password and a ticked box, then DELETE /users/me.
      const deletion = $('[data-form="delete-account"]')
      if (deletion) {
        onSubmit(deletion, async () => {
          const box = deletion.elements.namedItem('confirm')
          if (!box.checked) {
            fieldError(box, S.errors.CONFIRM_REQUIRED)
            box.focus()
            return
          }
          const remove = () =>
            call('DELETE', config.api.me, { json: { password: value(deletion, 'password') }, token: session.get() })
          let result = await remove()
          if (describe(result).code === 'STEP_UP_REQUIRED') {
            // a user with a second factor: passkeys.js confirms it with a passkey (when it can), then again
            const ask = { token: session.get(), answer: null }
            document.dispatchEvent(new CustomEvent('fu:step-up', { detail: ask }))
            if (ask.answer && (await ask.answer)) result = await remove()
            else {
              // no passkey to hand: a code of the authenticator app (or a passkey failed), typed in this form
              const slot = $('[data-slot="delete-code"]', deletion)
              const code = value(deletion, 'code').trim()
              if (slot?.hidden) {
                slot.hidden = false
                return fail(deletion, { ...describe(result), field: 'code' })
              }
              if (slot && code) {
                const stepUp = await call('POST', `${config.api.twoFactor}/step-up`, {
                  json: { code },
                  token: session.get(),
                })
                if (stepUp.status !== 204) return fail(deletion, { ...describe(stepUp), field: 'code' })
                result = await remove()
              }
            }
          }
          if (result.status === 204) {
            session.clear()
            location.assign(`${config.paths.signIn}?notice=account-deleted`)
            return
          }
          if (result.status === 401) {
            session.clear()
            return signIn('session-expired')
          }
          const problem = describe(result)
          if (problem.code === 'DELETE_USER_INVALID_PASSWORD') problem.field = 'password'
          // an app's veto (onBeforeDelete's DeleteRefused) with a code the strings do not word
          else if (result.status === 400 && problem.message === S.errors.UNKNOWN)
            problem.message = S.errors.DELETE_USER_REFUSED
          fail(deletion, problem)
        })
      }
    },
  }

  pages[document.body.dataset.page]?.()
})()

// The fastapi-users 12.1 example app (a User with first_name, one JWT backend with a custom claim, the five
// routers, an authenticated route), ported line by line: docs/migrating-from-fastapi-users.md walks through it,
// and test/library/from-fastapi-users.test.ts runs it on the database fastapi-users wrote.
import Fastify from 'fastify'
import {
  authenticationBackend,
  BearerTransport,
  defineUserFields,
  FastifyUsers,
  fastapiCompat,
  InvalidPasswordError,
  JWTStrategy,
  registerOpenApi,
  UserManager,
  type UserOf,
} from 'fastify-users'
import { createKyselyUserStore, migrateToLatest, openDatabase } from 'fastify-users/kysely'
import { Type } from 'typebox'

// app/db.py `class User(SQLAlchemyBaseUserTableUUID, Base): first_name = Column(Text, nullable=True)` and
// app/schemas.py's UserRead/UserCreate/UserUpdate `first_name: Optional[str]`: one declaration, in all three.
export const fields = defineUserFields({
  first_name: {
    schema: Type.String(),
    nullable: true,
    write: { register: 'required', self: true, admin: true },
    column: 'text',
  },
})
export type User = UserOf<typeof fields>

declare module 'fastify-users' {
  interface Register {
    user: User
  }
}

// app/users.py `UserManager.validate_password`.
export function validatePassword(password: string, user: { email: string }): void {
  if ([...password].length < 8) throw new InvalidPasswordError('Password should be at least 8 characters')
  if (password.includes(user.email)) throw new InvalidPasswordError('Password should not contain e-mail')
}

export interface Settings {
  /** SQLAlchemy's `sqlite+aiosqlite:///./test.db` is `sqlite:./test.db` here. */
  databaseUrl: string
  /** The same SECRET the fastapi-users app signed with. */
  secret: string
  /** Where the hooks' messages go (the original printed them). */
  log?: (message: string) => void
}

export async function buildApp({ databaseUrl, secret, log = console.log }: Settings) {
  // app/db.py: the engine, and create_db_and_tables() (here: migrations that adopt the existing table).
  const database = openDatabase(databaseUrl)
  await migrateToLatest(database, { fields })

  // app/users.py: UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]) with its on_after_* hooks.
  const manager = new UserManager<User>({
    store: createKyselyUserStore<User>(database, fields), // get_user_db: SQLAlchemyUserDatabase(session, User)
    secret, // reset_password_token_secret = verification_token_secret = SECRET
    validatePassword,
    hooks: {
      onAfterRegister: (user) => log(`User ${user.id} has registered.`),
      onAfterForgotPassword: (user, token) => log(`User ${user.id} has forgot their password. Reset token: ${token}`),
      onAfterRequestVerify: (user, token) =>
        log(`Verification requested for user ${user.id}. Verification token: ${token}`),
    },
  })

  // app/users.py: bearer_transport, get_jwt_strategy() (a JWTStrategy whose write_token adds first_name),
  // auth_backend, fastapi_users and current_active_user.
  const authBackend = authenticationBackend<User>({
    name: 'jwt',
    transport: new BearerTransport({ tokenUrl: 'auth/jwt/login' }),
    strategy: new JWTStrategy<User>({
      secret,
      lifetimeSeconds: 3600,
      claims: (user) => ({ first_name: user.first_name }),
    }),
  })
  const fastapiUsers = new FastifyUsers<User>({ manager, backends: [authBackend], fields })
  const currentActiveUser = fastapiUsers.currentUser({ active: true })

  // app/app.py: the app and its include_router calls, with the same prefixes and tags.
  const app = Fastify({ logger: false })
  app.addHook('onClose', () => database.close())
  await app.register(fastapiCompat)
  await registerOpenApi(app, { title: 'FastAPI', securitySchemes: fastapiUsers.securitySchemes() })
  await app.register(fastapiUsers.plugin)
  await app.register(fastapiUsers.authRouter(authBackend), { prefix: '/auth/jwt' })
  await app.register(fastapiUsers.registerRouter(), { prefix: '/auth' })
  await app.register(fastapiUsers.resetPasswordRouter(), { prefix: '/auth' })
  await app.register(fastapiUsers.verifyRouter(), { prefix: '/auth' })
  await app.register(fastapiUsers.usersRouter(), { prefix: '/users' })

  // @app.get("/authenticated-route") with `user: User = Depends(current_active_user)`.
  app.get('/authenticated-route', { preValidation: currentActiveUser }, async (request) => ({
    message: `Hello ${request.currentUser!.email}!`,
  }))
  return app
}

import type { FastifyInstance } from 'fastify';
import { DomainError, unavailable } from '@redis-patterns/service-kit';

export interface User {
  id: string;
  username: string;
}

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
}

const UNIQUE_VIOLATION = '23505';

function databaseDown(): DomainError {
  return unavailable('DATABASE_UNAVAILABLE', 'The user database is unavailable, try again shortly');
}

/** Users in PostgreSQL; names are unique case-insensitively (see migrations/001-users.sql). */
export class UserRepository {
  constructor(private readonly pool: FastifyInstance['pg']) {}

  /** Inserts a user; 409 USERNAME_TAKEN when the name exists in any letter case. */
  async create(username: string, passwordHash: string): Promise<User> {
    try {
      const { rows } = await this.pool.query<UserRow>(
        'INSERT INTO users (username, password_hash) VALUES ($1, $2) RETURNING id::text AS id, username',
        [username, passwordHash],
      );
      return { id: rows[0].id, username: rows[0].username };
    } catch (error) {
      if ((error as { code?: string }).code === UNIQUE_VIOLATION) {
        throw new DomainError(409, 'USERNAME_TAKEN', 'This username is taken');
      }
      throw databaseDown();
    }
  }

  /** The user and password hash by name, any letter case. */
  async findByUsername(username: string): Promise<(User & { passwordHash: string }) | undefined> {
    try {
      const { rows } = await this.pool.query<UserRow>(
        'SELECT id::text AS id, username, password_hash FROM users WHERE lower(username) = lower($1)',
        [username],
      );
      const row = rows[0];
      return row && { id: row.id, username: row.username, passwordHash: row.password_hash };
    } catch {
      throw databaseDown();
    }
  }
}

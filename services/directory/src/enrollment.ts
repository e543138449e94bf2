/**
 * Enrollment: the operator's list of identity keys allowed into the topology. A node or
 * gateway registers only when its id is enrolled with the identity key its descriptor names.
 * On disk, `ENROLLMENT_DIR/<id>.pub` holds the id's Ed25519 public key as 64 hex characters
 * (what services write at first start with ENROLL_DIR set; compose shares the folder).
 * The folder is read at start and again when a registration names a key not in the last
 * reading (at most once per `minRereadMs`: such a registration waits for the next reading),
 * so enrolling a service needs no restart.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NODE_ID_PATTERN } from '@mixlab/topology';

/** What the registry asks; the directory's is EnrollmentDirectory. */
export interface Enrollment {
  /** True when `id` is enrolled with `identityKey` (hex), as last read. */
  isEnrolled(id: string, identityKey: string): boolean;
  /** The key `id` is enrolled with, as last read, for refusals that say what is wrong. */
  enrolledKey(id: string): string | undefined;
  /** Reads the enrollment again when it may have changed; resolves true when it did. */
  reload(): Promise<boolean>;
}

/** One reading of the folder: the keys, and the files that could not be used (logged, not fatal). */
export interface EnrollmentReading {
  readonly keys: ReadonlyMap<string, string>;
  readonly problems: readonly string[];
}

const SUFFIX = '.pub';
const idPattern = new RegExp(NODE_ID_PATTERN);
const keyPattern = /^[0-9a-fA-F]{64}$/;

/** Reads every `<id>.pub` in `folder`; a missing folder enrolls no one (and says so). */
export async function readEnrollmentFolder(folder: string): Promise<EnrollmentReading> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { keys: new Map(), problems: [`${folder} cannot be read (${code ?? String(error)}): no one is enrolled`] };
  }
  const keys = new Map<string, string>();
  const problems: string[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith(SUFFIX)) continue;
    const id = name.slice(0, -SUFFIX.length);
    if (!idPattern.test(id)) {
      problems.push(`${name}: ${id} is not a valid id (${NODE_ID_PATTERN})`);
      continue;
    }
    let text: string;
    try {
      text = (await readFile(join(folder, name), 'utf8')).trim();
    } catch (error) {
      // Deleted between readdir and now, or unreadable: not enrolled, as if absent.
      problems.push(`${name}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      continue;
    }
    if (!keyPattern.test(text)) {
      problems.push(`${name}: must hold one Ed25519 public key as 64 hex characters`);
      continue;
    }
    keys.set(id, text.toLowerCase());
  }
  return { keys, problems };
}

export interface EnrollmentDirectoryOptions {
  /** Reads the enrollment: readEnrollmentFolder(ENROLLMENT_DIR) in the directory. */
  readonly read: () => Promise<EnrollmentReading>;
  /** Ms clock (monotonic is fine). */
  readonly now: () => number;
  /** Reads at most this often, so that registrations of unknown keys cannot make the directory read the folder in a loop. */
  readonly minRereadMs: number;
  /** Waits `ms` on the `now` clock; default setTimeout. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of every reading that changed something or has problems. */
  readonly onReading?: (reading: EnrollmentReading, changed: boolean) => void;
}

/** The enrollment as last read from the folder; reload() reads it again, one reading at a time. */
export class EnrollmentDirectory implements Enrollment {
  readonly #options: EnrollmentDirectoryOptions;
  #keys: ReadonlyMap<string, string> = new Map();
  #lastReadMs = Number.NEGATIVE_INFINITY;
  /** The reading underway, if any. */
  #current: Promise<boolean> | undefined;
  /** The reading callers wait for, not begun yet: every caller until it begins shares it. */
  #next: Promise<boolean> | undefined;

  constructor(options: EnrollmentDirectoryOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#keys.size;
  }

  isEnrolled(id: string, identityKey: string): boolean {
    return this.#keys.get(id) === identityKey;
  }

  enrolledKey(id: string): string | undefined {
    return this.#keys.get(id);
  }

  /**
   * Reads the folder again, begun after the call (a reading underway may predate the caller's
   * file, so it waits for the next one) and at least minRereadMs after the last; callers
   * waiting for the same reading share it. Resolves true when the enrollment changed.
   */
  reload(): Promise<boolean> {
    this.#next ??= this.#readNext();
    return this.#next;
  }

  async #readNext(): Promise<boolean> {
    await this.#current?.catch(() => {});
    const wait = this.#lastReadMs + this.#options.minRereadMs - this.#options.now();
    if (wait > 0) await (this.#options.sleep ?? sleep)(wait);
    this.#next = undefined;
    this.#lastReadMs = this.#options.now();
    const reading = this.#read();
    this.#current = reading;
    try {
      return await reading;
    } finally {
      if (this.#current === reading) this.#current = undefined;
    }
  }

  async #read(): Promise<boolean> {
    const reading = await this.#options.read();
    const changed = !sameKeys(this.#keys, reading.keys);
    this.#keys = reading.keys;
    if (changed || reading.problems.length > 0) this.#options.onReading?.(reading, changed);
    return changed;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sameKeys(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [id, key] of a) if (b.get(id) !== key) return false;
  return true;
}

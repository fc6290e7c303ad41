// What a run changed on a server, recorded before the change is made, with what undoes it (the
// journal's entries; strategies/journal.ts undoes them). Types only.
import type { SshAddress } from '../config/hosts.ts';

/** Which run backend (fleet/backend.ts) an entry's process ran under: a detached process or a systemd unit. */
export type BackendKind = 'process' | 'unit';

/**
 * What starts an old process again as it was: a detached process from how it was started, kept
 * on its host in `saved` (argv and environment may hold secrets; the state holds only that path),
 * logging to `log`; a unit instance NAME@PORT with the release it ran (and its recorded command).
 * A detached one may leave `backend` out (entries written before it was recorded).
 */
export type RestartFrom = { backend?: 'process'; saved: string; log: string } | { backend: 'unit'; release: string };

/** Set on an entry once its undo is complete and saved: a post step resumes from the rest. */
export interface Progress {
  undone?: boolean;
}

export type UndoEntry = Progress &
  /** includes changed together on several nginx hosts: put `before` back where `after` is */
  (
  | {
      kind: 'include';
      /** mayServe false: the change ended known not to be running in nginx (staged, or its reload failed with no new worker) */
      hosts: { nginx: SshAddress; path: string; loadedAs: string; before: string | null; after: string | null; mayServe?: boolean }[];
    }
  /** a process started (pid unknown when the start was cut off: the pid file tells) */
  /** gate: the start waited on the host behind the jar (its gate file: commands/app.ts gateFile) */
  /** backend: what it ran under (left out: a detached process) */
  | { kind: 'started'; app: SshAddress; port: number; pid?: number; gate?: string; backend?: BackendKind }
  /** systemd-unit: a rollback enabled and started the team's own unit again: disable and stop it */
  | { kind: 'unit-started'; app: SshAddress; unit: string }
  /** an old process stopped to make room: start it again as it was (RestartFrom) */
  | ({
      kind: 'stopped';
      app: SshAddress;
      port: number;
      /** its restart began: the process now on the port may be that restart (started by this rollback) */
      restarting?: boolean;
    } & RestartFrom)
  );

export type IncludeUndo = Extract<UndoEntry, { kind: 'include' }>;

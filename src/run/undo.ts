// What a run changed on a server, recorded before the change is made, with what undoes it (the
// journal's entries; strategies/journal.ts undoes them). Types only.
import type { SshAddress } from '../config/hosts.ts';

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
  | { kind: 'started'; app: SshAddress; port: number; pid?: number; gate?: string }
  /** systemd-unit: a rollback enabled and started the team's own unit again: disable and stop it */
  | { kind: 'unit-started'; app: SshAddress; unit: string }
  /**
   * an old process stopped to make room: start it again as it was. How it was started (argv and
   * environment may hold secrets) stays on its host in `saved`; the state holds only that path.
   */
  | {
      kind: 'stopped';
      app: SshAddress;
      port: number;
      /** how it was started, kept on its host ('' for a unit: `release` says what it ran) */
      saved: string;
      log: string;
      /** systemd-unit: the old instance was NAME@PORT running this release; it is started again so */
      release?: string;
      /** its restart began: the process now on the port may be that restart (started by this rollback) */
      restarting?: boolean;
    }
  );

export type IncludeUndo = Extract<UndoEntry, { kind: 'include' }>;

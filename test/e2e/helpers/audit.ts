// Reading kube-apiserver's audit log (JSON lines, one event each).
import { readFile } from 'node:fs/promises';
import { auditLogPath } from './cluster.ts';

/** The fields of an audit event that the tests look at. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string; apiVersion?: string };
  responseStatus?: { code?: number };
}

/** Every event in the audit log for which `match` holds. */
export async function auditEvents(match: (event: AuditEvent) => boolean): Promise<AuditEvent[]> {
  const text = await readFile(auditLogPath, 'utf8');
  const events: AuditEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const event = JSON.parse(line) as AuditEvent;
    if (match(event)) events.push(event);
  }
  return events;
}

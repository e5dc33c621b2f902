// Fails the whole run at once, naming the service, when the stack is not up: no test hangs on it.
import { checkKafka, checkPostgres } from './stack';

export default async function globalSetup(): Promise<void> {
  const problems = (await Promise.allSettled([checkKafka(), checkPostgres()]))
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => (r.reason as Error).message);
  if (problems.length > 0) throw new Error(`the test stack is not ready:\n- ${problems.join('\n- ')}`);
}

// For running only the kernel lab without the Kafka/PostgreSQL stack that test/jest.config.js's
// globalSetup requires: `npx jest -c test/jest.config.js --globalSetup ./test/kernel-lab/global-setup.ts test/kernel-lab`.
// Fails at once, naming setup.sh, when the host lacks qemu & co.
import { checkHost } from './lab';

export default function globalSetup(): void {
  checkHost();
}

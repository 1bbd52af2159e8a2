// `node --import ./tools/ts-register.mjs FILE.ts`: runs TypeScript on any
// supported Node, with Node's own type stripping where it has it, else tsx.
import { registerLoader } from '../src/runtime/ts-loader.mjs';

await registerLoader();

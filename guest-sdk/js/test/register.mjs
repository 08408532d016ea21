// `node --import ./test/register.mjs --test test/`: the SDK's modules import the host's
// functions from src/host.js; under test they get the fake host instead.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);

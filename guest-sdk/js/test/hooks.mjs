// Resolve src/host.js (the only module that imports the contract) to the fake host.
const fake = new URL('./fake-host.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === './host.js' && context.parentURL?.includes('/src/')) {
    return { url: fake, shortCircuit: true };
  }
  return next(specifier, context);
}

// Loader hooks registered by forbid-heavy.mjs: a forbidden package throws while resolving,
// whether it is named directly or reached through another package (its resolved file is in
// node_modules/<package>/). ESM only: require() calls inside CommonJS packages are not seen,
// which is enough here since waymond's own sources are ESM.
let forbidden = [];

export function initialize(data) {
  forbidden = data?.forbidden ?? [];
}

function packageOfSpecifier(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || /^[a-z]+:/.test(specifier)) return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The package a resolved file belongs to: the one after the last node_modules/. */
function packageOfUrl(url) {
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(url);
  return match?.[1];
}

function isForbidden(name) {
  return (
    name !== undefined && forbidden.some((entry) => (entry.endsWith('/') ? name.startsWith(entry) : name === entry))
  );
}

export async function resolve(specifier, context, nextResolve) {
  if (isForbidden(packageOfSpecifier(specifier))) {
    throw new Error(`forbidden module "${specifier}" imported by ${context.parentURL}`);
  }
  const result = await nextResolve(specifier, context);
  const owner = packageOfUrl(result.url);
  if (isForbidden(owner)) {
    throw new Error(`forbidden module "${owner}" reached through "${specifier}" from ${context.parentURL}`);
  }
  return result;
}

// Every connector type, alphabetically. Adding one is one line here.
export const connectors = [];

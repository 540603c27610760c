// Every scaler type, alphabetically. Adding one is one line here.
export const scalers = [];

/** Registers one case; `tokenCases` receives it too. */
export type DefineCase = (name: string, body: () => Promise<void>) => void;

// What a code looks like, apart from how one is drawn (lib/crypto.ts, node:crypto): the
// browser checks codes too, and must not pull a crypto polyfill into its bundle for it.

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export const CODE_PATTERN = /^[0-9A-Za-z]{8}$/;

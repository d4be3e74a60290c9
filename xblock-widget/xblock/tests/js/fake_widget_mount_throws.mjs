export default async function init() {
    globalThis.__ibalWidget.calls.push('init');
}
export function mount() {
    throw new Error('bad settings');
}

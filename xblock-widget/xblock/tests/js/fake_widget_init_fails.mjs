export default async function init() {
    throw new Error('WebAssembly.instantiate(): expected magic word');
}
export function mount() {
    globalThis.__ibalWidget.calls.push('mount');
}

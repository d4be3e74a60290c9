// Stands in for the wasm-bindgen `--target web` output: default async init + mount(element, settings).
export default async function init() {
    await new Promise((resolve) => setTimeout(resolve, 5));
    globalThis.__ibalWidget.calls.push('init');
}
export function mount(element, settings) {
    globalThis.__ibalWidget.calls.push('mount');
    globalThis.__ibalWidget.mountElement = element;
    globalThis.__ibalWidget.mountSettings = settings;
    globalThis.__ibalWidget.childrenAtMount = element.children.length;
}

export default async function init() {
    globalThis.__ibalWidget.calls.push('init');
}

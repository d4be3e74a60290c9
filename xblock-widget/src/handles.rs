//! RAII owners of browser callbacks: an event listener, a broadcast channel, a timeout and an
//! interval each keep their Rust closure alive and remove it from the browser when dropped. Nothing
//! is leaked with `forget()`. And [`spawn`], the one way the widget runs a task.

use std::cell::{Ref, RefCell, RefMut};
use std::future::Future;
use std::pin::Pin;

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::EventTarget;

/// `RefCell::borrow` and `borrow_mut`, as `read` and `write`, without their `#[track_caller]`: their
/// panic (a cell borrowed while borrowed mutably, which the widget never does) names these lines, not
/// each caller's, so the .wasm holds two panic locations rather than one per call (16 bytes each, and
/// the code passing it: about 1.2 KB over the widget's calls).
pub trait Shared<T> {
    /// The cell's value, shared.
    fn read(&self) -> Ref<'_, T>;
    /// The cell's value, exclusive.
    fn write(&self) -> RefMut<'_, T>;
}

impl<T> Shared<T> for RefCell<T> {
    fn read(&self) -> Ref<'_, T> {
        self.borrow()
    }

    fn write(&self) -> RefMut<'_, T> {
        self.borrow_mut()
    }
}

/// An event listener, removed on drop.
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    closure: Closure<dyn FnMut(web_sys::Event)>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Listener {
    /// Listens for `kind` events on `target` until dropped.
    pub fn new(target: &EventTarget, kind: &'static str, handler: impl FnMut(web_sys::Event) + 'static) -> Self {
        Self::boxed(target, kind, Box::new(handler))
    }

    /// [`Listener::new`] for every handler type: the generic part is only the box (a generic body would
    /// be compiled again for each handler).
    fn boxed(target: &EventTarget, kind: &'static str, handler: Box<dyn FnMut(web_sys::Event)>) -> Self {
        let closure = Closure::wrap(handler);
        // Fails only for a non-callable listener, which a Closure never is.
        let _ = target.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
        Self { target: target.clone(), kind, closure }
    }
}

impl Listener {
    /// Stops listening, at once, but keeps the closure until the handle is dropped: for a listener
    /// that must go quiet inside one of its own calls (dropping it there would free the closure
    /// while it runs).
    pub fn detach(&self) {
        let _ = self.target.remove_event_listener_with_callback(self.kind, self.closure.as_ref().unchecked_ref());
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.detach();
    }
}

/// A `BroadcastChannel` listened to until dropped, then closed.
#[derive(Debug)]
pub struct Channel {
    channel: web_sys::BroadcastChannel,
    _listener: Listener,
}

impl Channel {
    /// Listens to the channel `name` (this origin's pages only, by the browser's rule); None where the
    /// browser has no `BroadcastChannel`.
    pub fn listen(name: &str, handler: impl FnMut(web_sys::Event) + 'static) -> Option<Self> {
        let channel = web_sys::BroadcastChannel::new(name).ok()?;
        let listener = Listener::new(&channel, "message", handler);
        Some(Self { channel, _listener: listener })
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// A `setTimeout`, cleared on drop (harmless after it fired).
pub struct Timeout {
    id: i32,
    _closure: Closure<dyn FnMut()>,
}

impl std::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout").field("id", &self.id).finish()
    }
}

impl Timeout {
    /// Calls `callback` once after `ms` milliseconds, unless dropped first.
    #[must_use]
    pub fn new(ms: u32, callback: impl FnMut() + 'static) -> Self {
        Self::boxed(ms, Box::new(callback))
    }

    /// [`Timeout::new`] for every callback type (see [`Listener::boxed`]).
    fn boxed(ms: u32, callback: Box<dyn FnMut()>) -> Self {
        let closure = Closure::wrap(callback);
        let id = web_sys::window()
            .and_then(|w| {
                w.set_timeout_with_callback_and_timeout_and_arguments_0(
                    closure.as_ref().unchecked_ref(),
                    i32::try_from(ms).unwrap_or(i32::MAX),
                )
                .ok()
            })
            .unwrap_or(0);
        Self { id, _closure: closure }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_timeout_with_handle(self.id);
        }
    }
}

/// A `setInterval`, cleared on drop.
pub struct Interval {
    id: i32,
    _closure: Closure<dyn FnMut()>,
}

impl std::fmt::Debug for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interval").field("id", &self.id).finish()
    }
}

impl Interval {
    /// Calls `callback` every `ms` milliseconds until dropped.
    #[must_use]
    pub fn new(ms: u32, callback: impl FnMut() + 'static) -> Self {
        let closure = Closure::<dyn FnMut()>::new(callback);
        let id = web_sys::window()
            .and_then(|w| {
                w.set_interval_with_callback_and_timeout_and_arguments_0(
                    closure.as_ref().unchecked_ref(),
                    i32::try_from(ms).unwrap_or(i32::MAX),
                )
                .ok()
            })
            .unwrap_or(0);
        Self { id, _closure: closure }
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_interval_with_handle(self.id);
        }
    }
}

/// Runs `task` on the browser's event loop (`spawn_local`). The task comes boxed, so that `spawn_local`
/// is compiled once: each future type it is given costs its own copy of the task code (about 0.2 KB).
pub fn spawn(task: Pin<Box<dyn Future<Output = ()>>>) {
    wasm_bindgen_futures::spawn_local(task);
}

/// Resolves after `ms` milliseconds. The timer calls the promise's own `resolve`, so no Rust closure
/// outlives an unmount: a sleeping task wakes, finds its widget gone, and ends.
pub async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        if let Some(window) = web_sys::window() {
            let _ = window
                .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, i32::try_from(ms).unwrap_or(i32::MAX));
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

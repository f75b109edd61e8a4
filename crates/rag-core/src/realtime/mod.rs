//! Real-time status: every status change is pushed to the WebSocket
//! connections subscribed to it, and the WebSocket routes manage those
//! subscriptions.

mod publisher;
mod websocket;

pub use publisher::{NotifyingStatusStore, PublishReport, StatusPublisher};
pub use websocket::{WebSocketConfig, WebSocketService};

//! (placeholder) Channels domain: registry of channel settings, the publish pipeline
//! (permissions → triggers → writer → hub), history, long-poll and pruning.

use std::sync::Arc;

use crate::config::Settings;
use crate::error::StoreError;
use crate::store::Db;
use crate::triggers::TriggerService;

pub struct ChannelService {
    #[allow(dead_code)]
    db: Db,
}

impl ChannelService {
    pub async fn start(db: Db, _settings: Arc<Settings>, _triggers: Arc<TriggerService>) -> Result<Arc<ChannelService>, StoreError> {
        Ok(Arc::new(ChannelService { db }))
    }

    /// Starts background work (history pruning).
    pub fn spawn_background(self: &Arc<Self>) {}

    /// Closes every WebSocket with 1012 so clients reconnect to the next process.
    pub async fn shutdown(&self) {}
}

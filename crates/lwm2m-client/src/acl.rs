//! Access Control rules (Core TS §8, spec notes §6.2): which operations a management server may
//! perform on an object instance, decided from the Access Control object (2).
//!
//! Enforced only while more than one server is configured; with a single server every right is
//! granted. Each server manages its own Server (`/1`) instance. Resolution order: owner without its own entry ⇒ full rights; its own ACL entry; the
//! default entry (resource instance 0); otherwise nothing.

use std::time::Instant;

use crate::object::ServerId;
use crate::objects::acl::{AclInstance, OBJECT_ID};
use crate::objects::server::{ServerInstance, OBJECT_ID as SERVER_OBJECT};
use crate::tree::ObjectTree;

/// An operation class guarded by one ACL bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Read, Observe, Write-Attributes, Read-/Observe-Composite (bit 0).
    Read,
    /// Write, Write-Composite (bit 1).
    Write,
    /// Execute (bit 2).
    Execute,
    /// Delete (bit 3).
    Delete,
    /// Create, on the object's 65535 instance (bit 4).
    Create,
}

impl Right {
    fn bit(self) -> u8 {
        match self {
            Self::Read => 1,
            Self::Write => 2,
            Self::Execute => 4,
            Self::Delete => 8,
            Self::Create => 16,
        }
    }
}

/// Every right.
pub const FULL_RIGHTS: u8 = 31;

/// The Access Control instances, with their instance IDs.
fn instances(tree: &ObjectTree, now: Instant) -> Vec<(u16, AclInstance)> {
    let Some(object) = tree.object(OBJECT_ID) else { return Vec::new() };
    object
        .instances()
        .into_iter()
        .filter_map(|id| Some((id, AclInstance::from_values(&object.read(now, id)?)?)))
        .collect()
}

/// Whether `server` holds `right` on `object/instance` (instance 65535 for Create). A server
/// has every right on its own Server (`/1`) instance and none on the others' (no Access Control
/// instance governs `/1`).
pub fn allowed(tree: &ObjectTree, now: Instant, server: ServerId, object: u16, instance: u16, right: Right) -> bool {
    if object == SERVER_OBJECT {
        return right != Right::Create
            && right != Right::Delete
            && tree
                .object(SERVER_OBJECT)
                .and_then(|o| o.read(now, instance))
                .and_then(|values| ServerInstance::from_values(&values))
                .is_some_and(|s| s.server_id == server);
    }
    let target = if right == Right::Create { 65535 } else { instance };
    let Some((_, acl)) = instances(tree, now).into_iter().find(|(_, a)| a.object == object && a.instance == target)
    else {
        return false;
    };
    let rights = match acl.acl.get(&server.0) {
        Some(rights) => *rights,
        None if acl.owner == server.0 => FULL_RIGHTS,
        None => acl.acl.get(&0).copied().unwrap_or(0),
    };
    rights & right.bit() != 0
}

/// After `server` created `object/instance`: an Access Control instance owned by it.
pub fn on_created(tree: &mut ObjectTree, now: Instant, server: ServerId, object: u16, instance: u16) {
    if object == OBJECT_ID {
        return;
    }
    let Some(id) = tree.free_instance(OBJECT_ID) else { return };
    let values = AclInstance::owned(object, instance, server).to_values();
    if let Some(acl_object) = tree.object_mut(OBJECT_ID) {
        if let Err(error) = acl_object.create(now, id, values) {
            tracing::debug!(%error, object, instance, "could not create the access control instance");
        }
    }
}

/// After `object/instance` was deleted: its Access Control instance goes too.
pub fn on_deleted(tree: &mut ObjectTree, now: Instant, object: u16, instance: u16) {
    let doomed: Vec<u16> = instances(tree, now)
        .into_iter()
        .filter(|(_, a)| a.object == object && a.instance == instance)
        .map(|(id, _)| id)
        .collect();
    if let Some(acl_object) = tree.object_mut(OBJECT_ID) {
        for id in doomed {
            let _ = acl_object.delete(id);
        }
    }
}

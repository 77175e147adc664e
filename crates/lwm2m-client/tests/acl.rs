//! Access Control with two servers (Core TS §8, spec notes §6.2): rights per server, default
//! entry, owner, Create rights and ownership of created instances.

mod support;

use std::collections::BTreeMap;

use coap::{Code, ContentFormat, Request};
use lwm2m_client::objects::acl::AclInstance;
use lwm2m_client::ServerId;
use sim::Sim;
use support::{accept_register, ask, client_node, server_node, tree, uri};

#[test]
fn a_second_server_without_rights_gets_4_01() {
    let mut sim = Sim::new(60);
    let (s1, s2) = (server_node(&mut sim), server_node(&mut sim));
    let acls = [
        AclInstance { object: 3, instance: 0, acl: BTreeMap::from([(1, 31)]), owner: 1 },
        AclInstance { object: 3303, instance: 0, acl: BTreeMap::from([(0, 1)]), owner: 1 },
        AclInstance { object: 3303, instance: 65535, acl: BTreeMap::from([(2, 16)]), owner: 65535 },
    ];
    let servers = [(ServerId(1), uri(&sim, s1), 300, "U"), (ServerId(2), uri(&sim, s2), 300, "U")];
    let tree = tree(&servers, None, &acls);
    let client = client_node(&mut sim, tree);
    accept_register(&mut sim, s1, "a");
    accept_register(&mut sim, s2, "b");

    assert_eq!(ask(&mut sim, s1, client, Request::get("/3/0")).code, Code::CONTENT, "server 1 has full rights");
    assert_eq!(ask(&mut sim, s2, client, Request::get("/3/0")).code, Code::UNAUTHORIZED, "server 2 has none");
    assert_eq!(ask(&mut sim, s2, client, Request::post("/3/0/4")).code, Code::UNAUTHORIZED);
    assert_eq!(ask(&mut sim, s2, client, Request::get("/4/0")).code, Code::UNAUTHORIZED, "no ACL instance: no rights");

    // The default entry grants read only.
    assert_eq!(ask(&mut sim, s2, client, Request::get("/3303/0/5700")).code, Code::CONTENT);
    let put = |body: &str| Request::put("/3303/0/5750").with_payload(ContentFormat::TEXT, body.as_bytes().to_vec());
    assert_eq!(ask(&mut sim, s2, client, put("x")).code, Code::UNAUTHORIZED);
    assert_eq!(ask(&mut sim, s1, client, put("x")).code, Code::CHANGED, "owner without own entry: full rights");

    // Create right on the object; the creator owns the new instance.
    let body = br#"[{"n":"/3303/4/5750","vs":"new"}]"#;
    let create = || Request::post("/3303").with_payload(ContentFormat::SENML_JSON, body.to_vec());
    assert_eq!(ask(&mut sim, s1, client, create()).code, Code::UNAUTHORIZED);
    assert_eq!(ask(&mut sim, s2, client, create()).code, Code::CREATED);
    let acl_instances = |sim: &Sim| sim[client].tree().object(2).map(|o| o.instances().len());
    assert_eq!(acl_instances(&sim), Some(4), "an access control instance for /3303/4");
    assert_eq!(ask(&mut sim, s2, client, Request::get("/3303/4/5750")).payload, b"new");
    assert_eq!(ask(&mut sim, s1, client, Request::get("/3303/4/5750")).code, Code::UNAUTHORIZED);
    assert_eq!(ask(&mut sim, s2, client, Request::delete("/3303/4")).code, Code::DELETED);
    assert_eq!(acl_instances(&sim), Some(3), "it goes with the instance");
    let r = ask(&mut sim, s1, client, Request::get("/2"));
    assert_eq!(r.code, Code::CONTENT);

    // Each server reaches its own Server instance only.
    assert_eq!(ask(&mut sim, s1, client, Request::get("/1/0/1")).code, Code::CONTENT);
    assert_eq!(ask(&mut sim, s1, client, Request::get("/1/1/1")).code, Code::UNAUTHORIZED);
    assert_eq!(ask(&mut sim, s2, client, Request::get("/1/1/1")).code, Code::CONTENT);
    let r = ask(&mut sim, s2, client, Request::get("/1"));
    let records = lwm2m::format::decode(
        r.options.content_format().expect("format"),
        &r.payload,
        &lwm2m::PrefixedPath::plain(lwm2m::Path::Object(1)),
        &lwm2m::Registry::bundled(),
    )
    .expect("decodes");
    assert!(records.iter().all(|rec| rec.path.path.ids().get(1) == Some(&1)), "only /1/1 is shown to server 2");
}

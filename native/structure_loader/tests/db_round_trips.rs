//! What a load costs in network round trips: a handful, however many statements the file
//! holds, where psql pays one per statement. Counted by a proxy between the loader and the
//! server, so this holds at any distance from the database without timing anything.

mod db_support;

use db_support::{load_with, Dump, TestDb};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use structure_loader::connection::{ConnectOptions, Endpoint};
use structure_loader::load::LoadOptions;

/// Who sent last on the proxied connection, and how many times the client started sending
/// after the server had (or at the start): the round trips a request/response protocol pays.
struct Turns {
    server_spoke_last: bool,
    client_turns: u32,
}

/// A TCP proxy for one connection to the server `conn` names, counting client turns.
struct TurnCountingProxy {
    port: u16,
    turns: Arc<Mutex<Turns>>,
    forwarding: JoinHandle<()>,
}

impl TurnCountingProxy {
    fn start(conn: &ConnectOptions) -> TurnCountingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream_address = (conn.endpoints[0].host.clone(), conn.endpoints[0].port);
        let turns = Arc::new(Mutex::new(Turns {
            server_spoke_last: true,
            client_turns: 0,
        }));
        let counted = Arc::clone(&turns);
        let forwarding = thread::spawn(move || {
            let (client, _) = listener.accept().unwrap();
            let server = TcpStream::connect(upstream_address).unwrap();
            // Passed on at once, as the loader and the server write them.
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            let up = {
                let (client, server, turns) = (
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Arc::clone(&counted),
                );
                thread::spawn(move || {
                    forward(client, server, move || {
                        let mut turns = turns.lock().unwrap();
                        if turns.server_spoke_last {
                            turns.client_turns += 1;
                            turns.server_spoke_last = false;
                        }
                    })
                })
            };
            forward(server, client, move || {
                counted.lock().unwrap().server_spoke_last = true
            });
            up.join().unwrap();
        });
        TurnCountingProxy {
            port,
            turns,
            forwarding,
        }
    }

    /// The round trips of the connection, once it has ended.
    fn round_trips(self) -> u32 {
        self.forwarding.join().unwrap();
        let turns = self.turns.lock().unwrap();
        turns.client_turns
    }
}

/// Copies `from` to `to` until `from` ends, calling `on_data` before passing each chunk on
/// (so a turn is recorded before the other side can answer it).
fn forward(mut from: TcpStream, mut to: TcpStream, on_data: impl Fn()) {
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(read @ 1..) = from.read(&mut buffer) {
        on_data();
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

#[test]
fn five_thousand_statements_load_in_a_handful_of_round_trips() {
    let db = TestDb::create("round_trips");
    let mut dump = String::from(
        "SET statement_timeout = 0;\n\
         SET standard_conforming_strings = on;\n\
         SELECT pg_catalog.set_config('search_path', '', false);\n\
         CREATE TABLE public.items (id integer PRIMARY KEY, name text);\n",
    );
    for id in 1..=5000 {
        dump.push_str(&format!(
            "INSERT INTO public.items VALUES ({id}, 'item {id}');\n"
        ));
    }
    let dump = Dump::new(dump);
    let direct = db.options();
    let proxy = TurnCountingProxy::start(&direct);
    let through_proxy = ConnectOptions {
        endpoints: vec![Endpoint {
            host: "127.0.0.1".to_owned(),
            port: proxy.port,
        }],
        ..direct
    };

    let (loaded, _) = load_with(&dump.path, &through_proxy, &LoadOptions::default());

    assert_eq!(loaded.unwrap().statements, 5004);
    assert_eq!(db.count("SELECT count(*) FROM public.items"), 5000);
    // Connecting with SCRAM takes 3, asking the server's settings 1, BEGIN 1, the two
    // batches 2 (the first ends at standard_conforming_strings), COMMIT 1, and the
    // goodbye 1: 9. Each of the 4 pipelined pairs (BEGIN and a query, a savepoint and a
    // batch, the reset and COMMIT) may cost one more when the server answers the first
    // before the proxy has read the second.
    let round_trips = proxy.round_trips();
    assert!(
        (9..=13).contains(&round_trips),
        "{round_trips} round trips for 5,004 statements"
    );
}

//! Attack tests for the workspace: traversal payloads, symlinks, hard links, swapped entries,
//! all aimed at a canary file outside the workspace that must never be read or changed.

// Helpers below set up fixtures; a failed setup should abort the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use rampart_sandbox::{EntryKind, SandboxError, Workspace, WorkspaceOptions};

const CANARY: &[u8] = b"CANARY-SECRET-must-never-be-read-or-changed";

/// A workspace next to an `outside/` directory holding the canary, with hostile entries planted.
struct Fixture {
    _tmp: tempfile::TempDir,
    ws_path: PathBuf,
    outside: PathBuf,
    canary: PathBuf,
    canary_mtime: SystemTime,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        let ws_path = tmp.path().join("ws");
        fs::create_dir(&outside).unwrap();
        fs::create_dir_all(ws_path.join("sub/deeper")).unwrap();
        let canary = outside.join("canary.txt");
        fs::write(&canary, CANARY).unwrap();
        // Planted by "someone else" (another tool, the user): every way to point outside.
        symlink("../outside/canary.txt", ws_path.join("link_out")).unwrap();
        symlink(&canary, ws_path.join("abs_link")).unwrap();
        symlink("../outside", ws_path.join("dir_link")).unwrap();
        symlink(&outside, ws_path.join("sub/abs_dir_link")).unwrap();
        symlink("../../outside/canary.txt", ws_path.join("sub/inner_link")).unwrap();
        symlink("../outside/not-yet-there.txt", ws_path.join("dangling")).unwrap();
        symlink("../outside/newdir", ws_path.join("dangling_dir")).unwrap();
        symlink("loop", ws_path.join("loop")).unwrap();
        symlink("/proc/self/root/etc/passwd", ws_path.join("proc_link")).unwrap();
        fs::write(ws_path.join("inside.txt"), b"inside").unwrap();
        symlink("inside.txt", ws_path.join("inside_link")).unwrap();
        fs::hard_link(&canary, ws_path.join("hard")).unwrap();
        fs::hard_link(&canary, ws_path.join("sub/deeper/hard2")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(ws_path.join("fifo"))
            .status()
            .unwrap();
        assert!(fifo.success());
        let canary_mtime = fs::metadata(&canary).unwrap().modified().unwrap();
        Self {
            _tmp: tmp,
            ws_path,
            outside,
            canary,
            canary_mtime,
        }
    }

    fn ws(&self) -> Workspace {
        Workspace::open(&self.ws_path, WorkspaceOptions::default()).unwrap()
    }

    fn ws_with(&self, options: WorkspaceOptions) -> Workspace {
        Workspace::open(&self.ws_path, options).unwrap()
    }

    /// The canary's content and mtime are untouched and nothing new appeared outside.
    fn assert_canary_intact(&self, what: &str) {
        assert_eq!(
            fs::read(&self.canary).unwrap(),
            CANARY,
            "canary changed by {what}"
        );
        let mtime = fs::metadata(&self.canary).unwrap().modified().unwrap();
        assert_eq!(mtime, self.canary_mtime, "canary mtime changed by {what}");
        let names: Vec<_> = fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["canary.txt"],
            "something was created outside by {what}"
        );
    }
}

fn assert_not_canary(result: &Result<Vec<u8>, SandboxError>, payload: &str) {
    if let Ok(bytes) = result {
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY),
            "{payload:?} read the canary"
        );
    }
}

/// Payloads that must be refused by every operation that takes a file path.
fn refused_payloads(f: &Fixture) -> Vec<String> {
    let mut p: Vec<String> = [
        "../outside/canary.txt",
        "../../../../../../../../etc/passwd",
        "..",
        "../",
        "./../outside/canary.txt",
        "sub/../../outside/canary.txt",
        "sub/deeper/../../../outside/canary.txt",
        "inside.txt/../../outside/canary.txt",
        "/etc/passwd",
        "//etc/passwd",
        "/",
        "..\\outside\\canary.txt",
        "sub\\..\\..\\outside\\canary.txt",
        "C:\\Windows\\win.ini",
        "inside.txt\0../outside/canary.txt",
        "\0",
        "link_out\0",
        "a\nb",
        "a\rb",
        "\x1b[31mred",
        "tab\there",
        "\u{7f}del",
        "link_out",
        "abs_link",
        "dir_link/canary.txt",
        "dir_link/./canary.txt",
        "./dir_link/canary.txt",
        "sub/abs_dir_link/canary.txt",
        "sub/inner_link",
        "dangling",
        "dangling_dir/x.txt",
        "loop",
        "loop/x",
        "proc_link",
        "inside_link",
        "hard",
        "sub/deeper/hard2",
        "fifo",
        ".rampart-tmp-0000000000000000",
        "sub/.rampart-tmp-x",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    p.push(f.canary.to_string_lossy().into_owned());
    p.push(format!("{}/../outside/canary.txt", f.ws_path.display()));
    p.push("a/".repeat(5000));
    p.push("x".repeat(300));
    p.push("d/".repeat(40) + "f");
    p
}

#[test]
fn every_traversal_payload_is_refused_for_read_write_and_delete() {
    let f = Fixture::new();
    let ws = f.ws();
    let payloads = refused_payloads(&f);
    assert!(payloads.len() >= 40, "only {} payloads", payloads.len());
    for payload in &payloads {
        let read = ws.read(payload);
        assert_not_canary(&read, payload);
        assert!(read.is_err(), "read of {payload:?} was allowed");
        f.assert_canary_intact(&format!("read {payload:?}"));

        let write = ws.write(payload, b"OVERWRITTEN");
        assert!(write.is_err(), "write of {payload:?} was allowed");
        f.assert_canary_intact(&format!("write {payload:?}"));
    }
    // Deletes last, on a fresh fixture per payload, since a delete that wrongly succeeded
    // would change what later payloads see. A hard link's *name* may be deleted (see below).
    for payload in payloads.iter().filter(|p| !p.contains("hard")) {
        let f = Fixture::new();
        let result = f.ws().delete(payload);
        assert!(result.is_err(), "delete of {payload:?} was allowed");
        f.assert_canary_intact(&format!("delete {payload:?}"));
        assert!(f.ws_path.join("link_out").symlink_metadata().is_ok());
    }
}

#[test]
fn listing_through_links_or_outside_is_refused() {
    let f = Fixture::new();
    let ws = f.ws();
    for payload in [
        "..",
        "../outside",
        "/",
        "/tmp",
        "dir_link",
        "dir_link/",
        "sub/abs_dir_link",
        "dangling_dir",
        "loop",
        "inside.txt",
        "sub/../..",
        "\0",
    ] {
        assert!(ws.list(payload).is_err(), "list {payload:?} was allowed");
    }
    f.assert_canary_intact("list");
}

#[test]
fn refusals_carry_the_precise_error() {
    let f = Fixture::new();
    let ws = f.ws();
    assert!(matches!(
        ws.read("link_out"),
        Err(SandboxError::SymlinkRefused { .. })
    ));
    assert!(matches!(
        ws.read("dir_link/canary.txt"),
        Err(SandboxError::SymlinkRefused { .. })
    ));
    assert!(matches!(
        ws.read("dangling"),
        Err(SandboxError::SymlinkRefused { .. })
    ));
    assert!(matches!(
        ws.write("dangling", b"x"),
        Err(SandboxError::SymlinkRefused { .. })
    ));
    assert!(matches!(
        ws.write("dangling_dir/x", b"x"),
        Err(SandboxError::SymlinkRefused { .. })
    ));
    assert!(matches!(
        ws.read("hard"),
        Err(SandboxError::HardLinkRefused { links: 3, .. })
    ));
    assert!(matches!(
        ws.write("hard", b"x"),
        Err(SandboxError::HardLinkRefused { .. })
    ));
    assert!(matches!(
        ws.read("fifo"),
        Err(SandboxError::NotAFile { .. })
    ));
    assert!(matches!(ws.read("sub"), Err(SandboxError::NotAFile { .. })));
    assert!(matches!(
        ws.read("missing"),
        Err(SandboxError::NotFound { .. })
    ));
    assert!(matches!(
        ws.read("inside.txt/x"),
        Err(SandboxError::NotADirectory { .. })
    ));
    assert!(matches!(
        ws.read("../x"),
        Err(SandboxError::InvalidPath { .. })
    ));
    f.assert_canary_intact("precise errors");
}

#[test]
fn encoded_forms_are_literal_names_inside_the_workspace() {
    let f = Fixture::new();
    let ws = f.ws();
    for literal in [
        "%2e%2e/outside/canary.txt",
        "%2e%2e%2foutside%2fcanary.txt",
        "..%2f..%2foutside",
        "%252e%252e/x",
        "..%00/x",
        "%c0%ae%c0%ae/x",
        "\u{ff0e}\u{ff0e}/x",
        "\u{2025}/x",
        ".. /x",
        "..../x",
        "~/x",
        "file:/x",
        "$HOME/x",
    ] {
        assert!(matches!(
            ws.read(literal),
            Err(SandboxError::NotFound { .. })
        ));
        ws.write(literal, b"literal").unwrap();
        // It landed inside the workspace, under exactly that (undecoded) name.
        assert_eq!(fs::read(f.ws_path.join(literal)).unwrap(), b"literal");
        assert_eq!(ws.read(literal).unwrap(), b"literal");
        ws.delete(literal).unwrap();
        f.assert_canary_intact(literal);
    }
}

#[test]
fn deleting_a_hard_link_removes_only_the_workspace_name() {
    let f = Fixture::new();
    let ws = f.ws();
    ws.delete("hard").unwrap();
    assert!(!f.ws_path.join("hard").exists());
    f.assert_canary_intact("delete hard link");
}

#[test]
fn symlinks_swapped_in_during_calls_are_never_followed() {
    let f = Fixture::new();
    let ws = Arc::new(f.ws());
    fs::create_dir(f.ws_path.join("racedir")).unwrap();
    fs::write(f.ws_path.join("race"), b"inside").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (root, canary, outside, stop) = (
            f.ws_path.clone(),
            f.canary.clone(),
            f.outside.clone(),
            Arc::clone(&stop),
        );
        std::thread::spawn(move || {
            let tmp_link = root.join("tmp_link");
            let tmp_dlink = root.join("tmp_dlink");
            let tmp_file = root.join("tmp_file");
            let parked = root.join("parked_dir");
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Atomically replace each name with a link to the outside, then back. Steps can
                // fail when the reader's own writes recreate a name; the loop just carries on.
                if symlink(&canary, &tmp_link).is_ok()
                    && fs::rename(&tmp_link, root.join("race")).is_ok()
                {
                    swaps += 1;
                }
                let _ = fs::write(&tmp_file, b"inside");
                let _ = fs::rename(&tmp_file, root.join("race"));
                if fs::rename(root.join("racedir"), &parked).is_ok() {
                    let _ = symlink(&outside, &tmp_dlink);
                    if fs::rename(&tmp_dlink, root.join("racedir")).is_ok() {
                        swaps += 1;
                    }
                    let _ = fs::remove_file(root.join("racedir"));
                    let _ = fs::remove_file(&tmp_dlink);
                    let _ = fs::rename(&parked, root.join("racedir"));
                }
            }
            swaps
        })
    };
    let mut ok_reads = 0;
    for i in 0..3000 {
        let r = ws.read("race");
        assert_not_canary(&r, "race");
        if let Ok(bytes) = &r {
            assert_eq!(bytes, b"inside");
            ok_reads += 1;
        }
        let r = ws.read("racedir/canary.txt");
        assert_not_canary(&r, "racedir/canary.txt");
        let _ = ws.write("racedir/canary.txt", format!("overwrite {i}").as_bytes());
        let _ = ws.write("racedir/new.txt", b"x");
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    f.assert_canary_intact("swapped symlinks");
    assert!(swaps > 0);
    // The race really ran both ways: some reads hit the regular file.
    assert!(ok_reads > 0);
}

#[test]
fn allow_symlinks_follows_links_inside_but_never_out() {
    let f = Fixture::new();
    let ws = f.ws_with(WorkspaceOptions {
        allow_symlinks: true,
        ..WorkspaceOptions::default()
    });
    assert_eq!(ws.read("inside_link").unwrap(), b"inside");
    for payload in [
        "link_out",
        "abs_link",
        "dir_link/canary.txt",
        "sub/inner_link",
        "sub/abs_dir_link/canary.txt",
        "proc_link",
        "loop",
    ] {
        let r = ws.read(payload);
        assert_not_canary(&r, payload);
        assert!(r.is_err(), "{payload:?} escaped with allow_symlinks");
        assert!(ws.write(&format!("{payload}/x"), b"x").is_err());
    }
    assert!(ws.write("dangling_dir/x.txt", b"x").is_err());
    f.assert_canary_intact("allow_symlinks");
}

#[test]
fn normal_reads_writes_lists_and_deletes_work() {
    let f = Fixture::new();
    let ws = f.ws();
    ws.write("notes/2026/today.md", b"first").unwrap();
    ws.write("notes/2026/today.md", b"second").unwrap();
    assert_eq!(ws.read("notes/2026/today.md").unwrap(), b"second");
    assert_eq!(ws.read("./notes//2026/./today.md").unwrap(), b"second");
    ws.write("empty.txt", b"").unwrap();
    assert_eq!(ws.read("empty.txt").unwrap(), b"");
    ws.write("ünïcødé файл.txt", b"u").unwrap();
    assert_eq!(ws.read("ünïcødé файл.txt").unwrap(), b"u");

    let listing = ws.list("notes/2026").unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].name, "today.md");
    assert_eq!(listing.entries[0].kind, EntryKind::File);
    assert_eq!(listing.entries[0].size, 6);

    let root = ws.list("").unwrap();
    let kind = |n: &str| root.entries.iter().find(|e| e.name == n).map(|e| e.kind);
    assert_eq!(kind("notes"), Some(EntryKind::Directory));
    assert_eq!(kind("link_out"), Some(EntryKind::Symlink));
    assert_eq!(kind("fifo"), Some(EntryKind::Other));
    assert!(root.entries.windows(2).all(|w| w[0].name < w[1].name));
    assert_eq!(ws.list(".").unwrap(), root);

    ws.delete("notes/2026/today.md").unwrap();
    assert!(matches!(
        ws.read("notes/2026/today.md"),
        Err(SandboxError::NotFound { .. })
    ));
    assert!(matches!(
        ws.delete("notes"),
        Err(SandboxError::DirectoryNotEmpty { .. })
    ));
    ws.delete("notes/2026").unwrap();
    ws.delete("notes").unwrap();
    // No temporary files are left behind.
    assert!(fs::read_dir(&f.ws_path).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".rampart-tmp-")
    }));
    f.assert_canary_intact("positive controls");
}

#[test]
fn size_limits_hold() {
    let f = Fixture::new();
    let ws = f.ws_with(WorkspaceOptions {
        max_read_bytes: 10,
        max_write_bytes: 8,
        max_list_entries: 3,
        ..WorkspaceOptions::default()
    });
    ws.write("eight.txt", b"12345678").unwrap();
    assert!(matches!(
        ws.write("nine.txt", b"123456789"),
        Err(SandboxError::TooLarge {
            size: 9,
            limit: 8,
            ..
        })
    ));
    assert!(!f.ws_path.join("nine.txt").exists());
    fs::write(f.ws_path.join("big.txt"), [b'x'; 11]).unwrap();
    assert!(matches!(
        ws.read("big.txt"),
        Err(SandboxError::TooLarge { limit: 10, .. })
    ));
    let listing = ws.list("").unwrap();
    assert_eq!(listing.entries.len(), 3);
    assert!(listing.truncated);
}

#[test]
fn open_for_agent_creates_a_private_directory() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let name: rampart_core::AgentName = "researcher".parse().unwrap();
    let ws = Workspace::open_for_agent(home.path(), &name, WorkspaceOptions::default()).unwrap();
    ws.write("a.txt", b"a").unwrap();
    let dir = home.path().join("workspace/researcher");
    assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"a");
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        fs::metadata(dir.join("a.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn a_workspace_root_that_is_a_symlink_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("real")).unwrap();
    symlink(tmp.path().join("real"), tmp.path().join("ws")).unwrap();
    let r = Workspace::open(&tmp.path().join("ws"), WorkspaceOptions::default());
    assert!(matches!(r, Err(SandboxError::Workspace(_))));
}

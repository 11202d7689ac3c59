//! A throwaway OpenLDAP server for the LDAP connector's tests: one `slapd` per test, on a free loopback
//! port, with an mdb database in a temporary directory and the core, cosine and inetOrgPerson schemas,
//! killed (and its directory removed) on drop. For benchmarks it can start already holding many people,
//! loaded offline with `slapadd`.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufWriter, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, Mod, Scope, SearchEntry};

pub const SUFFIX: &str = "dc=example,dc=org";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "admin-secret";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
pub const DISABLED: &str = "ou=disabled,dc=example,dc=org";
pub const STAFF: &str = "cn=staff,ou=groups,dc=example,dc=org";
pub const ADMINS: &str = "cn=admins,ou=groups,dc=example,dc=org";
pub const AUDITORS: &str = "cn=auditors,ou=groups,dc=example,dc=org";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SCHEMAS: &str = "/etc/ldap/schema";
const MODULES: &str = "/usr/lib/ldap";

/// A running slapd; it stops when dropped.
#[derive(Debug)]
pub struct Slapd {
    child: Option<Child>,
    dir: PathBuf,
    pub url: String,
}

impl Slapd {
    /// Starts a slapd holding the suffix, `ou=people`, `ou=groups`, `ou=disabled` and three groups
    /// (staff, admins, auditors). `groupOfNames` requires a member, so each group starts with the admin DN.
    pub async fn start() -> Slapd {
        let slapd = Self::spawn(Self::prepare());
        slapd.seed().await;
        slapd
    }

    /// Starts a slapd holding what [`Slapd::start`] puts there and `people` inetOrgPerson entries
    /// `uid=user{n},ou=people,…` (n from 1): `cn` "User {n}", `sn`, `givenName`, `mail`
    /// `user{n}@example.org`, `employeeNumber` n and `title`. Each thousand people in turn make a
    /// department group `cn=dept{k},ou=groups,…` (k from 0), every tenth person is in admins too, and
    /// with `everyone_in_staff` every person is in staff. They are written as LDIF and loaded with
    /// `slapadd` before slapd starts, which takes seconds where adding them over LDAP would take minutes.
    pub fn start_with_people(people: usize, everyone_in_staff: bool) -> Slapd {
        let dir = Self::prepare();
        let ldif = dir.join("people.ldif");
        write_people_ldif(&ldif, people, everyone_in_staff).expect("write the LDIF");
        let output = Command::new(SLAPADD)
            .arg("-f")
            .arg(dir.join("slapd.conf"))
            .arg("-l")
            .arg(&ldif)
            // Quick mode: no consistency checks on the (generated, well-formed) input.
            .arg("-q")
            .output()
            .expect("run slapadd");
        assert!(output.status.success(), "slapadd failed: {}", String::from_utf8_lossy(&output.stderr));
        let _ = fs::remove_file(&ldif);
        Self::spawn(dir)
    }

    /// A fresh directory with slapd's configuration and an empty database.
    fn prepare() -> PathBuf {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} is missing: the LDAP tests need OpenLDAP's server. Install it with \
             `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd`"
        );
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tessera-slapd-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("db")).expect("create the slapd directory");
        fs::write(dir.join("slapd.conf"), slapd_conf(&dir)).expect("write slapd.conf");
        dir
    }

    fn spawn(dir: PathBuf) -> Slapd {
        // Another process may take the port between it being found free and slapd binding it; try again.
        for _ in 0..5 {
            let port = free_port();
            let url = format!("ldap://127.0.0.1:{port}");
            if let Some(child) = launch(&dir, &url, port) {
                return Slapd { child: Some(child), dir, url };
            }
        }
        let log = fs::read_to_string(dir.join("slapd.log")).unwrap_or_default();
        panic!("slapd did not start; its log:\n{log}");
    }

    /// Starts the stopped server again on the same port, with the entries it held.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "slapd is running");
        let port: u16 = self.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the URL's port");
        let child = launch(&self.dir, &self.url, port).unwrap_or_else(|| {
            let log = fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default();
            panic!("slapd did not restart on port {port}; its log:\n{log}")
        });
        self.child = Some(child);
    }

    /// Stops the server now (the URL then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A connection bound as the directory's root.
    pub async fn admin(&self) -> Ldap {
        self.bind(ADMIN_DN, ADMIN_PASSWORD).await.expect("bind as the admin")
    }

    /// A connection bound as `dn`, or the bind's result code.
    pub async fn bind(&self, dn: &str, password: &str) -> Result<Ldap, u32> {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url).await.expect("connect to slapd");
        tokio::spawn(async move {
            let _ = conn.drive().await;
        });
        let result = ldap.simple_bind(dn, password).await.expect("bind");
        if result.rc == 0 { Ok(ldap) } else { Err(result.rc) }
    }

    /// The values of `attribute` of the entry `dn`, sorted; `None` when there is no such entry.
    pub async fn values(&self, dn: &str, attribute: &str) -> Option<Vec<String>> {
        let mut ldap = self.admin().await;
        let result = ldap.search(dn, Scope::Base, "(objectClass=*)", vec![attribute]).await.expect("search");
        if result.1.rc == 32 {
            return None;
        }
        let entry = SearchEntry::construct(result.success().expect("search").0.into_iter().next()?);
        let mut values = entry
            .attrs
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .map(|(_, values)| values)
            .unwrap_or_default();
        values.sort();
        Some(values)
    }

    /// Adds an entry as the admin.
    pub async fn add(&self, dn: &str, attributes: &[(&str, &[&str])]) {
        let mut ldap = self.admin().await;
        let attrs = attributes.iter().map(|(name, values)| (*name, values.iter().copied().collect())).collect();
        ldap.add(dn, attrs).await.expect("add").success().unwrap_or_else(|e| panic!("adding {dn}: {e}"));
    }

    /// Adds the inetOrgPerson `uid={uid},ou=people,…` with these `mail` values; returns its DN.
    pub async fn add_person(&self, uid: &str, given_name: &str, surname: &str, mail: &[&str]) -> String {
        let dn = format!("uid={uid},{PEOPLE}");
        let cn = format!("{given_name} {surname}");
        let (uid, cn, surname, given_name) = ([uid], [cn.as_str()], [surname], [given_name]);
        let mut attributes: Vec<(&str, &[&str])> = vec![
            ("objectClass", &["inetOrgPerson"]),
            ("uid", &uid),
            ("cn", &cn),
            ("sn", &surname),
            ("givenName", &given_name),
        ];
        if !mail.is_empty() {
            attributes.push(("mail", mail));
        }
        self.add(&dn, &attributes).await;
        dn
    }

    /// Replaces the values of `attribute` of `dn` (none removes it).
    pub async fn replace(&self, dn: &str, attribute: &str, values: &[&str]) {
        self.modify(dn, Mod::Replace(attribute, values.iter().copied().collect())).await;
    }

    /// Adds values to `attribute` of `dn`: a member to a group, for example.
    pub async fn add_values(&self, dn: &str, attribute: &str, values: &[&str]) {
        self.modify(dn, Mod::Add(attribute, values.iter().copied().collect())).await;
    }

    async fn modify(&self, dn: &str, change: Mod<&str>) {
        let mut ldap = self.admin().await;
        ldap.modify(dn, vec![change])
            .await
            .expect("modify")
            .success()
            .unwrap_or_else(|e| panic!("modifying {dn}: {e}"));
    }

    /// Deletes the entry `dn` (a leaf).
    pub async fn delete(&self, dn: &str) {
        let mut ldap = self.admin().await;
        ldap.delete(dn).await.expect("delete").success().unwrap_or_else(|e| panic!("deleting {dn}: {e}"));
    }

    async fn seed(&self) {
        self.add(SUFFIX, &[("objectClass", &["dcObject", "organization"]), ("dc", &["example"]), ("o", &["Example"])])
            .await;
        for ou in [PEOPLE, GROUPS, DISABLED] {
            let name = ou.trim_start_matches("ou=").split(',').next().expect("rdn value");
            self.add(ou, &[("objectClass", &["organizationalUnit"]), ("ou", &[name])]).await;
        }
        for (group, description) in [(STAFF, "Everyone"), (ADMINS, "Administrators"), (AUDITORS, "Auditors")] {
            let cn = group.trim_start_matches("cn=").split(',').next().expect("rdn value");
            let attrs: [(&str, &[&str]); 4] = [
                ("objectClass", &["groupOfNames"]),
                ("cn", &[cn]),
                ("description", &[description]),
                ("member", &[ADMIN_DN]),
            ];
            self.add(group, &attrs).await;
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The base entries [`Slapd::start`] adds over LDAP, and `people` people, as LDIF (RFC 2849).
fn write_people_ldif(path: &Path, people: usize, everyone_in_staff: bool) -> std::io::Result<()> {
    let mut out = BufWriter::new(fs::File::create(path)?);
    writeln!(out, "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n")?;
    for ou in [PEOPLE, GROUPS, DISABLED] {
        let name = ou.trim_start_matches("ou=").split(',').next().unwrap_or_default();
        writeln!(out, "dn: {ou}\nobjectClass: organizationalUnit\nou: {name}\n")?;
    }
    let mut entry = String::new();
    for n in 1..=people {
        entry.clear();
        let _ = write!(
            entry,
            "dn: uid=user{n},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: user{n}\ncn: User {n}\nsn: Number{n}\n\
             givenName: User\nmail: user{n}@example.org\nemployeeNumber: {n}\ntitle: Engineer {}\n",
            n % 7
        );
        writeln!(out, "{entry}")?;
    }
    for (group, description) in [(STAFF, "Everyone"), (ADMINS, "Administrators"), (AUDITORS, "Auditors")] {
        let cn = group.trim_start_matches("cn=").split(',').next().unwrap_or_default();
        writeln!(out, "dn: {group}\nobjectClass: groupOfNames\ncn: {cn}\ndescription: {description}")?;
        writeln!(out, "member: {ADMIN_DN}")?;
        for n in 1..=people {
            if (group == STAFF && everyone_in_staff) || (group == ADMINS && n % 10 == 0) {
                writeln!(out, "member: uid=user{n},{PEOPLE}")?;
            }
        }
        writeln!(out)?;
    }
    for department in 0..people.div_ceil(1000) {
        writeln!(out, "dn: cn=dept{department},{GROUPS}\nobjectClass: groupOfNames\ncn: dept{department}")?;
        for n in department * 1000 + 1..=((department + 1) * 1000).min(people) {
            writeln!(out, "member: uid=user{n},{PEOPLE}")?;
        }
        writeln!(out)?;
    }
    out.flush()
}

/// Runs slapd from `dir`'s configuration on `url`; `None` when it did not come up within ten seconds.
fn launch(dir: &Path, url: &str, port: u16) -> Option<Child> {
    let log = fs::File::create(dir.join("slapd.log")).expect("create the slapd log");
    let mut child = Command::new(SLAPD)
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .arg("-h")
        .arg(format!("{url}/"))
        // Any debug level keeps slapd in the foreground, where it can be killed.
        .args(["-d", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start slapd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Some(child);
        }
        if child.try_wait().expect("poll slapd").is_some() {
            return None;
        }
        sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

fn slapd_conf(dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "include {SCHEMAS}/core.schema
include {SCHEMAS}/cosine.schema
include {SCHEMAS}/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath {MODULES}
moduleload back_mdb
database mdb
maxsize 4294967296
suffix \"{SUFFIX}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {dir}/db
index objectClass eq
index member eq
index uid eq
"
    )
}

//! A deterministic HR file: the authoritative source that benchmarks and the demo organisation aggregate.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

/// The generated file's columns, in order.
pub const HR_COLUMNS: [&str; 11] = [
    "employeeNumber",
    "firstName",
    "lastName",
    "displayName",
    "email",
    "department",
    "jobTitle",
    "location",
    "managerId",
    "status",
    "startDate",
];

const FIRST_NAMES: [&str; 32] = [
    "Ada", "Alan", "Amira", "Ben", "Carla", "Chen", "Dara", "David", "Elena", "Emeka", "Fatima", "Grace", "Hiro",
    "Ines", "Ivan", "Jada", "Jonas", "Kofi", "Lena", "Luis", "Maya", "Mei", "Nadia", "Omar", "Priya", "Rafael", "Sara",
    "Tomas", "Uma", "Victor", "Wen", "Yusuf",
];

const LAST_NAMES: [&str; 32] = [
    "Adeyemi", "Andersen", "Baker", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Haddad", "Ito", "Jensen",
    "Kowalski", "Lopez", "Martin", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Quinn", "Rossi",
    "Santos", "Schmidt", "Silva", "Tanaka", "Uddin", "Varga", "Wagner", "Wong", "Yilmaz", "Zhang",
];

/// Departments, each with the job titles found in it.
const DEPARTMENTS: [(&str, [&str; 3]); 8] = [
    ("Engineering", ["Software Engineer", "Senior Software Engineer", "Engineering Manager"]),
    ("Finance", ["Accountant", "Financial Analyst", "Controller"]),
    ("Human Resources", ["HR Generalist", "Recruiter", "HR Business Partner"]),
    ("Legal", ["Paralegal", "Counsel", "General Counsel"]),
    ("Marketing", ["Marketing Specialist", "Content Writer", "VP, Marketing"]),
    ("Operations", ["Operations Analyst", "Facilities Coordinator", "Operations Manager"]),
    ("Sales", ["Account Executive", "Sales Engineer", "VP, Sales"]),
    ("Support", ["Support Agent", "Support Engineer", "Support Manager"]),
];

const LOCATIONS: [&str; 6] = ["Amsterdam", "Austin", "Bangalore", "London", "Singapore", "Toronto"];

/// Writes a header and `count` HR rows (the [`HR_COLUMNS`]), the same for the same `seed`.
///
/// Employee numbers run `E000001`, `E000002`…; emails are `first.last+N@example.com`, unique by N. About 90% of
/// rows have status `A` (active), 6% `L` (leave) and 4% `T` (terminated). Every row but the first has a
/// `managerId` naming an earlier row, chosen among the first eighth of the rows before it, so the managers form one
/// tree with the first row at its root.
pub fn write_hr_file<W: Write>(out: W, count: usize, seed: u64) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    writeln!(out, "{}", HR_COLUMNS.join(","))?;
    let mut rng = SplitMix64(seed);
    let mut line = String::with_capacity(256);
    for i in 0..count {
        line.clear();
        let first = FIRST_NAMES[rng.below(FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.below(LAST_NAMES.len())];
        let (department, titles) = DEPARTMENTS[rng.below(DEPARTMENTS.len())];
        let title = titles[rng.below(titles.len())];
        let location = LOCATIONS[rng.below(LOCATIONS.len())];
        let status = match rng.below(100) {
            0..90 => "A",
            90..96 => "L",
            _ => "T",
        };
        let (year, month, day) = (2000 + rng.below(25), 1 + rng.below(12), 1 + rng.below(28));
        let number = i + 1;
        // Writing to a String cannot fail.
        let _ = write!(line, "E{number:06},{first},{last},{first} {last},");
        push_lowercase(&mut line, first);
        line.push('.');
        push_lowercase(&mut line, last);
        let _ = write!(line, "+{number}@example.com,");
        line.push_str(department);
        line.push(',');
        push_field(&mut line, title);
        line.push(',');
        line.push_str(location);
        line.push(',');
        if i > 0 {
            // i.div_ceil(8) is at least 1 and at most i, so the manager is an earlier row.
            let _ = write!(line, "E{:06}", rng.below(i.div_ceil(8)) + 1);
        }
        let _ = writeln!(line, ",{status},{year}-{month:02}-{day:02}");
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

fn push_lowercase(line: &mut String, s: &str) {
    line.extend(s.chars().flat_map(char::to_lowercase));
}

/// Appends `value`, quoted if it holds a comma, quote or line break.
fn push_field(line: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&value.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(value);
    }
}

/// Sebastiano Vigna's splitmix64: tiny, fast, and plenty for test data.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (slightly biased, which test data does not mind).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

import Schemas

/// A deterministic generator of realistic ministry records: same seed, same data, on every machine.
///
/// SplitMix64 rather than the system generator, so that a seed reproduces the same population everywhere.
struct SplitMix64 {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: Range<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }
    mutating func pick<T>(_ items: [T]) -> T { items[int(0..<items.count)] }
}


/// One row of each reference table, as the generator produces them.
struct SyntheticRows {
    var persons: [[String?]] = []
    var employments: [[String?]] = []
    var workPermits: [[String?]] = []
}

/// The realistic shape of Lebanon's labour records, scaled to N persons.
struct SyntheticPopulation {
    /// The day every status is computed against, fixed so that a seed always gives the same statuses.
    static let referenceDay = CivilDate.days(year: 2026, month: 11, day: 1)

    static let nationalities: [(code: String, weight: Int, culture: SyntheticNames.Culture)] = [
        ("LB", 55, SyntheticNames.levantine), ("SY", 15, SyntheticNames.levantine), ("EG", 6, SyntheticNames.egyptian),
        ("ET", 6, SyntheticNames.ethiopian), ("BD", 5, SyntheticNames.bangladeshi), ("PH", 4, SyntheticNames.filipino),
        ("LK", 3, SyntheticNames.sriLankan), ("IQ", 3, SyntheticNames.iraqi), ("SD", 1, SyntheticNames.levantine),
        ("NP", 2, SyntheticNames.nepali),
    ]
    static let domesticNationalities: Set<String> = ["ET", "PH", "LK", "BD", "NP"]

    static let governorates: [(code: String, districts: [String])] = [
        ("LB-BA", ["Beirut"]), ("LB-JL", ["Baabda", "Metn", "Keserwan", "Chouf", "Aley", "Jbeil"]),
        ("LB-AS", ["Tripoli", "Zgharta", "Koura", "Batroun", "Bsharri", "Minieh-Danniyeh"]), ("LB-AK", ["Akkar"]),
        ("LB-BH", ["Baalbek", "Hermel"]), ("LB-BI", ["Zahle", "West Bekaa", "Rashaya"]), ("LB-JA", ["Saida", "Tyre", "Jezzine"]),
        ("LB-NA", ["Nabatieh", "Marjeyoun", "Hasbaya", "Bint Jbeil"]),
    ]

    /// ISIC Rev.4 classes with their section, the kind of establishment, and the ISCO-08 occupations it employs.
    static let activities: [(section: String, isic: String, kind: SyntheticNames.Pair, occupations: [String])] = [
        ("A", "0111", ("مزرعة", "Farm"), ["6111", "9211", "8341"]),
        ("C", "1071", ("فرن", "Bakery"), ["7512", "5223", "9329"]),
        ("C", "1061", ("مطاحن", "Mills"), ["8160", "7233", "4321"]),
        ("F", "4100", ("شركة مقاولات", "Contracting Co."), ["7112", "9313", "7411", "3112"]),
        ("G", "4711", ("سوبرماركت", "Supermarket"), ["5223", "5230", "9334", "4321"]),
        ("G", "4771", ("محلات", "Stores"), ["5223", "5230"]),
        ("H", "4921", ("شركة نقل", "Transport Co."), ["8322", "8331", "4323"]),
        ("I", "5610", ("مطعم", "Restaurant"), ["5120", "5131", "9412"]),
        ("I", "5510", ("فندق", "Hotel"), ["5151", "4224", "9112", "5131"]),
        ("J", "6201", ("شركة برمجيات", "Software"), ["2512", "2511", "3512"]),
        ("K", "6419", ("مصرف", "Bank"), ["2411", "3312", "4211"]),
        ("M", "6920", ("مكتب محاسبة", "Accountants"), ["2411", "3313", "4110"]),
        ("P", "8521", ("مدرسة", "School"), ["2330", "2341", "4110"]),
        ("Q", "8610", ("مستشفى", "Hospital"), ["2211", "2221", "3256", "5321"]),
        ("S", "9601", ("مصبغة", "Laundry"), ["8157", "9121"]),
        ("T", "9700", ("منزل", "Household"), ["9111", "5152", "5311"]),
    ]
    static let legalForms = ["sole-proprietorship", "sal", "sarl", "partnership", "association"]

    let persons: Int
    let establishmentCount: Int
    let seed: UInt64

    init(persons: Int, seed: UInt64) {
        self.persons = persons
        self.establishmentCount = max(20, persons / 8)
        self.seed = seed
    }

    static func nationalId(_ index: Int) -> String {
        CivilDate.pad(Int((UInt64(index) &* 7919 &+ 100_000_000_003) % 1_000_000_000_000), 12)
    }

    static func registrationNumber(_ index: Int) -> String { String(1_000_000 + index) }

    /// The establishments' rows; establishment `i` is in a governorate and activity derived from the seed.
    func establishments() -> [[String?]] {
        var random = SplitMix64(seed: seed ^ 0xE57A_B115)
        var rows: [[String?]] = []
        rows.reserveCapacity(establishmentCount)
        for index in 0..<establishmentCount {
            let activity = Self.activities[index % Self.activities.count]
            let (governorate, districts) = random.pick(Self.governorates)
            let family = random.pick(SyntheticNames.levantine.family)
            let closed = random.chance(0.06)
            rows.append([
                String(index + 1), Self.registrationNumber(index),
                random.chance(0.9) ? String(60_000_000 + index) : nil,
                "\(activity.kind.ar) \(family.ar)", "\(family.latin) \(activity.kind.latin)",
                activity.section == "T" ? "sole-proprietorship" : random.pick(Self.legalForms),
                activity.section, activity.isic, governorate, random.pick(districts), nil,
                CivilDate.string(CivilDate.days(year: 1975, month: 1, day: 1) + random.int(0..<18_000)),
                closed ? "closed" : (random.chance(0.02) ? "suspended" : "active"),
            ])
        }
        return rows
    }

    /// The rows of persons `range`, with their employment and work permits.
    func rows(for range: Range<Int>) -> SyntheticRows {
        var rows = SyntheticRows()
        let totalWeight = Self.nationalities.reduce(0) { $0 + $1.weight }
        for index in range {
            var random = SplitMix64(seed: seed &+ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
            var roll = random.int(0..<totalWeight)
            var nationality = Self.nationalities[0]
            for candidate in Self.nationalities {
                if roll < candidate.weight { nationality = candidate; break }
                roll -= candidate.weight
            }
            let lebanese = nationality.code == "LB"
            let domestic = Self.domesticNationalities.contains(nationality.code)
            let female = domestic ? random.chance(0.85) : random.chance(0.45)
            let culture = nationality.culture
            let given = random.pick(female ? culture.female : culture.male)
            let father = random.pick(culture.male)
            let family = random.pick(culture.family)
            let mother = random.pick(culture.female)
            let born = CivilDate.days(year: 1958, month: 1, day: 1) + random.int(0..<(45 * 365))
            let personID = String(index + 1)
            let passport: String? = lebanese
                ? (random.chance(0.3) ? "LR" + CivilDate.pad((index * 37 + 11) % 10_000_000, 7) : nil)
                : String(UnicodeScalar(UInt8(65 + index % 26))) + CivilDate.pad(index, 8)
            let registeredWithNSSF = !domestic && random.chance(0.75)
            rows.persons.append([
                personID, lebanese ? Self.nationalId(index) : nil, passport, nationality.code,
                registeredWithNSSF ? String(1_000_000_000 + index) : nil,
                given.ar, father.ar, family.ar, given.latin, father.latin, family.latin, mother.ar, mother.latin,
                CivilDate.string(born), female ? "F" : "M",
            ])
            appendEmployment(index: index, personID: personID, lebanese: lebanese, domestic: domestic, born: born, random: &random, into: &rows)
        }
        return rows
    }

    private func appendEmployment(index: Int, personID: String, lebanese: Bool, domestic: Bool, born: Int, random: inout SplitMix64, into rows: inout SyntheticRows) {
        let jobs = random.int(0..<4)
        var start = max(born + 18 * 365, CivilDate.days(year: 2000, month: 1, day: 1)) + random.int(0..<2000)
        for job in 0..<jobs where start < Self.referenceDay - 30 {
            let household = domestic
            var establishment = random.int(0..<establishmentCount)
            if household {
                // Domestic workers work for households (ISIC 9700): move to the nearest establishment of that kind.
                establishment -= establishment % Self.activities.count
                establishment += Self.activities.count - 1
                if establishment >= establishmentCount { establishment -= Self.activities.count }
            }
            let activity = Self.activities[establishment % Self.activities.count]
            let occupation = random.pick(activity.occupations)
            let current = job == jobs - 1 && random.chance(0.75)
            let end = current ? nil : min(Self.referenceDay - 1, start + 180 + random.int(0..<2500))
            let usd = random.chance(0.6)
            let salary = usd ? 250 + random.int(0..<2500) : 9_000_000 + random.int(0..<60_000_000)
            let employmentID = String(index * 4 + job + 1)
            var permitNumber: String?
            if !lebanese {
                let issuedYear = Int(CivilDate.string(start).prefix(4)) ?? 2020
                let number = "WP-\(issuedYear)-" + CivilDate.pad(index * 4 + job, 7)
                permitNumber = number
                rows.workPermits.append(workPermit(number: number, id: employmentID, personID: personID, establishment: establishment, occupation: occupation, domestic: household, start: start, end: end, random: &random))
            }
            rows.employments.append([
                employmentID, personID, String(establishment + 1), occupation, CivilDate.string(start), end.map(CivilDate.string),
                String(salary), usd ? "USD" : "LBP", permitNumber,
            ])
            start = (end ?? Self.referenceDay) + 15 + random.int(0..<400)
        }
    }

    /// A permit's lifecycle: pre-approval, then issued for a year, renewed yearly while employed; cancelled
    /// when the employment ended early, expired when it ran out; still at pre-approval for recent hires.
    private func workPermit(number: String, id: String, personID: String, establishment: Int, occupation: String, domestic: Bool, start: Int, end: Int?, random: inout SplitMix64) -> [String?] {
        let category: Int
        if domestic {
            category = 4
        } else if occupation.hasPrefix("1") || occupation.hasPrefix("2") {
            category = random.chance(0.3) ? 1 : 2
        } else {
            category = 3
        }
        let preApproval = start - 20 - random.int(0..<40)
        var status: String
        var issued: Int? = start
        var expires: Int? = start + 365
        var cancelled: Int?
        if start > Self.referenceDay - 45 && random.chance(0.5) {
            status = "pre-approval"
            issued = nil
            expires = nil
        } else {
            status = "issued"
            while let current = expires, current < (end ?? Self.referenceDay) {
                issued = current
                expires = current + 365
                status = "renewed"
            }
            if let end, let expiry = expires {
                if random.chance(0.6) && end < expiry {
                    status = "cancelled"
                    cancelled = end
                } else if expiry <= Self.referenceDay {
                    status = "expired"
                }
            } else if let expiry = expires, expiry <= Self.referenceDay {
                status = "expired"
            }
        }
        let changed = [preApproval, issued ?? preApproval, cancelled ?? preApproval].max()!
        return [
            id, number, personID, String(establishment + 1), String(category), status, occupation,
            "PA-" + CivilDate.string(preApproval).prefix(4) + "-" + CivilDate.pad(Int(id) ?? 0, 7), CivilDate.string(preApproval),
            issued.map(CivilDate.string), expires.map(CivilDate.string), cancelled.map(CivilDate.string),
            CivilDate.string(min(changed, Self.referenceDay)) + " 09:00:00+00",
        ]
    }
}

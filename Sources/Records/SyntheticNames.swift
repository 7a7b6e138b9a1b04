/// Name lists for the synthetic population: each entry is (Arabic script, Latin transliteration).
enum SyntheticNames {
    typealias Pair = (ar: String, latin: String)

    struct Culture {
        let male: [Pair]
        let female: [Pair]
        let family: [Pair]
    }

    static let levantine = Culture(
        male: [
            ("محمد", "Mohammad"), ("أحمد", "Ahmad"), ("علي", "Ali"), ("حسن", "Hassan"), ("حسين", "Hussein"), ("خالد", "Khaled"),
            ("رامي", "Rami"), ("جورج", "Georges"), ("إيلي", "Elie"), ("شربل", "Charbel"), ("طوني", "Tony"), ("بيار", "Pierre"),
            ("سامر", "Samer"), ("وليد", "Walid"), ("زياد", "Ziad"), ("عمر", "Omar"), ("يوسف", "Youssef"), ("نبيل", "Nabil"),
            ("مروان", "Marwan"), ("فادي", "Fadi"), ("جهاد", "Jihad"), ("وسام", "Wissam"), ("ربيع", "Rabih"), ("كريم", "Karim"),
            ("هادي", "Hadi"), ("بلال", "Bilal"), ("ماهر", "Maher"), ("إبراهيم", "Ibrahim"), ("سليم", "Salim"), ("نديم", "Nadim"),
        ],
        female: [
            ("فاطمة", "Fatima"), ("زينب", "Zeinab"), ("مريم", "Mariam"), ("ليلى", "Layla"), ("رنا", "Rana"), ("ريما", "Rima"),
            ("نادين", "Nadine"), ("كارلا", "Carla"), ("ماري", "Marie"), ("ريتا", "Rita"), ("هبة", "Hiba"), ("سارة", "Sara"),
            ("نور", "Nour"), ("لينا", "Lina"), ("هالة", "Hala"), ("منى", "Mona"), ("سهى", "Suha"), ("جومانا", "Joumana"),
            ("دانا", "Dana"), ("رولا", "Rola"), ("غادة", "Ghada"), ("سلمى", "Salma"), ("آية", "Aya"), ("تمارا", "Tamara"),
        ],
        family: [
            ("الحداد", "El Haddad"), ("الخوري", "El Khoury"), ("حمادة", "Hamadeh"), ("نصرالله", "Nasrallah"), ("شمس الدين", "Chamseddine"),
            ("عيسى", "Issa"), ("سلامة", "Salameh"), ("فرنجية", "Frangieh"), ("جعجع", "Geagea"), ("الأسعد", "El Assaad"),
            ("عون", "Aoun"), ("قاسم", "Kassem"), ("بيضون", "Baydoun"), ("شهاب", "Chehab"), ("أبو خليل", "Abou Khalil"),
            ("الزين", "El Zein"), ("صعب", "Saab"), ("غانم", "Ghanem"), ("طرابلسي", "Trabulsi"), ("حجازي", "Hijazi"),
            ("المصري", "El Masri"), ("الحلبي", "Al Halabi"), ("الشامي", "Al Shami"), ("درويش", "Darwish"), ("يونس", "Younes"),
            ("منصور", "Mansour"), ("العلي", "Al Ali"), ("الحسيني", "El Husseini"), ("مراد", "Mourad"), ("زعيتر", "Zeaiter"),
        ])

    static let egyptian = Culture(
        male: [
            ("محمود", "Mahmoud"), ("مصطفى", "Mostafa"), ("سيد", "Sayed"), ("عبد الرحمن", "Abdelrahman"), ("طارق", "Tarek"),
            ("هشام", "Hesham"), ("شريف", "Sherif"), ("عمرو", "Amr"), ("أيمن", "Ayman"), ("إسلام", "Eslam"), ("كريم", "Karim"),
            ("محمد", "Mohamed"), ("أحمد", "Ahmed"), ("وائل", "Wael"), ("رضا", "Reda"), ("جمال", "Gamal"),
        ],
        female: [
            ("نجلاء", "Naglaa"), ("هند", "Hend"), ("دعاء", "Doaa"), ("شيماء", "Shaimaa"), ("أسماء", "Asmaa"), ("منة", "Menna"),
            ("ياسمين", "Yasmine"), ("رحاب", "Rehab"), ("سماح", "Samah"), ("إيمان", "Eman"),
        ],
        family: [
            ("عبد الرحمن", "Abdelrahman"), ("الشناوي", "El Shenawy"), ("حسنين", "Hassanein"), ("عبد العزيز", "Abdelaziz"),
            ("السيد", "El Sayed"), ("فهمي", "Fahmy"), ("سليمان", "Soliman"), ("رمضان", "Ramadan"), ("عثمان", "Osman"),
            ("الجمال", "El Gamal"), ("بدوي", "Badawy"), ("عبد الله", "Abdallah"),
        ])

    static let iraqi = Culture(
        male: [
            ("علي", "Ali"), ("حيدر", "Haider"), ("مصطفى", "Mustafa"), ("عباس", "Abbas"), ("قاسم", "Qasim"), ("كرار", "Karrar"),
            ("مهند", "Muhannad"), ("سجاد", "Sajjad"), ("عمار", "Ammar"), ("ياسر", "Yasir"),
        ],
        female: [("زهراء", "Zahraa"), ("نور", "Noor"), ("رقية", "Ruqaya"), ("بتول", "Batool"), ("شهد", "Shahad"), ("دعاء", "Duaa")],
        family: [
            ("الجبوري", "Al Jubouri"), ("الدليمي", "Al Dulaimi"), ("التميمي", "Al Tamimi"), ("الربيعي", "Al Rubaie"),
            ("الساعدي", "Al Saadi"), ("العبيدي", "Al Obaidi"), ("الخفاجي", "Al Khafaji"), ("الموسوي", "Al Musawi"),
        ])

    static let ethiopian = Culture(
        male: [("أبيبي", "Abebe"), ("تسفاي", "Tesfaye"), ("جيتاتشو", "Getachew"), ("ملاكو", "Melaku"), ("داويت", "Dawit"), ("يوهانس", "Yohannes")],
        female: [
            ("ميسيريت", "Meseret"), ("تيجيست", "Tigist"), ("ألماز", "Almaz"), ("هيوت", "Hiwot"), ("بيزونيش", "Bizunesh"),
            ("سيلام", "Selam"), ("ماكدا", "Makeda"), ("راحيل", "Rahel"), ("ميرون", "Meron"), ("تسيون", "Tsion"),
        ],
        family: [("تاديسي", "Tadesse"), ("ولده", "Wolde"), ("جيرما", "Girma"), ("بيكيلي", "Bekele"), ("هايلي", "Haile"), ("أليمو", "Alemu"), ("كبيدي", "Kebede")])

    static let filipino = Culture(
        male: [("خوسيه", "Jose"), ("جون", "John"), ("مارك", "Mark"), ("رونالد", "Ronald")],
        female: [
            ("ماريا", "Maria"), ("روزالي", "Rosalie"), ("جيني", "Jenny"), ("ماريسيل", "Maricel"), ("ليزا", "Liza"),
            ("أنالين", "Analyn"), ("جوي", "Joy"), ("كريستين", "Kristine"),
        ],
        family: [("سانتوس", "Santos"), ("رييس", "Reyes"), ("كروز", "Cruz"), ("باوتيستا", "Bautista"), ("غارسيا", "Garcia"), ("مندوزا", "Mendoza"), ("تورّيس", "Torres")])

    static let bangladeshi = Culture(
        male: [("رحيم", "Rahim"), ("كريم", "Karim"), ("شفيق", "Shafiq"), ("منير", "Monir"), ("جهانجير", "Jahangir"), ("ربيع", "Rabiul")],
        female: [("نسرين", "Nasrin"), ("روكسانا", "Roksana"), ("شاهناز", "Shahnaz"), ("ريشما", "Reshma")],
        family: [("رحمن", "Rahman"), ("حسين", "Hossain"), ("إسلام", "Islam"), ("أحمد", "Ahmed"), ("ميا", "Mia"), ("أختر", "Akter")])

    static let sriLankan = Culture(
        male: [("سونيل", "Sunil"), ("نيمال", "Nimal"), ("كاسون", "Kasun"), ("تشاميندا", "Chaminda")],
        female: [("كومودو", "Kumudu"), ("ديلاني", "Dilani"), ("نادييكا", "Nadeeka"), ("شاماري", "Chamari"), ("سانداماري", "Sandamali")],
        family: [("بيريرا", "Perera"), ("فرناندو", "Fernando"), ("سيلفا", "Silva"), ("جاياسينغ", "Jayasinghe"), ("بانداراء", "Bandara")])

    static let nepali = Culture(
        male: [("رام", "Ram"), ("بيكاش", "Bikash"), ("سانتوش", "Santosh")],
        female: [("سيتا", "Sita"), ("غيتا", "Gita"), ("بابيتا", "Babita"), ("سابينا", "Sabina")],
        family: [("شريستا", "Shrestha"), ("تامانغ", "Tamang"), ("غورونغ", "Gurung"), ("راي", "Rai")])
}

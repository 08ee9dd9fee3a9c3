"""Deterministic generator of a synthetic place-review moderation dataset.

The rows imitate visitor reviews of restaurants, attractions and hotels as
they appear on map / listing sites, with independent multi-label moderation
targets:

``advertisement``
    the review promotes something else (promo codes, URLs, phone numbers,
    "DM for discount", "check out my channel", ...).
``relevance``
    1 = the review is *irrelevant* to the place (politics, crypto, the
    writer's day, an unrelated product, a different business, ...).
``rant``
    a rant by someone who clearly never visited ("never been here but",
    "heard from a friend it's awful", "saw it on tiktok", ...).
``toxicity``
    insulting / abusive language aimed at staff or people.
``spam``
    repetitive, gibberish or copy-paste text ("aaaaa", "first!!!", ...).

Roughly 45% of rows are clean, each of the first four labels has a
prevalence of about 15%, spam about 5%, and about 10% of rows carry two
labels at once.  Clean rows include hard negatives (prices, phone
reservations, repeat visits, polite complaints) so that the labels are not
just "any complaint" or "any number".

Only the standard library is used and every random draw goes through one
``random.Random(seed)``, so ``generate_reviews(n, seed)`` is fully
deterministic.

Command line::

    python -m tools.synthetic.reviews OUT.csv [N] [SEED]
"""

from __future__ import annotations

import csv
import io
import random
import re
import sys
from pathlib import Path

__all__ = ["COLUMNS", "LABELS", "generate_reviews", "write_reviews_csv", "reviews_to_csv_text"]

COLUMNS = ["text", "advertisement", "relevance", "rant", "toxicity", "spam"]
LABELS = COLUMNS[1:]

# --------------------------------------------------------------------------
# Place categories and slot fillers
# --------------------------------------------------------------------------

_CATEGORIES: dict[str, dict[str, list[str]]] = {
    "food": {
        "place": [
            "cafe", "ramen bar", "bakery", "bistro", "pizzeria", "taco stand", "sushi place",
            "brunch spot", "steakhouse", "noodle shop", "burger joint", "tea house", "food hall",
            "dim sum restaurant", "vegan restaurant", "gelato shop", "wine bar", "diner",
            "coffee shop", "trattoria", "bbq place", "falafel shop",
        ],
        "thing": [
            "ramen", "croissants", "flat white", "carbonara", "tacos al pastor", "miso soup",
            "pancakes", "ribeye", "dumplings", "margherita pizza", "cheesecake", "pad thai",
            "gyoza", "avocado toast", "espresso", "fish and chips", "lasagna", "chai latte",
            "brisket", "pistachio gelato", "tiramisu", "bao buns", "falafel wrap", "french toast",
            "house burger", "tonkotsu broth", "sourdough", "cinnamon rolls", "iced matcha",
            "eggs benedict", "spicy wings", "mushroom risotto",
        ],
        "staff": [
            "waiter", "waitress", "barista", "chef", "cashier", "host", "manager", "bartender",
            "server", "owner", "guy at the counter",
        ],
        "good": [
            "delicious", "really tasty", "super fresh", "perfectly seasoned", "amazing",
            "spot on", "excellent", "so good", "generous and tasty", "better than expected",
        ],
        "bad": [
            "cold", "a bit bland", "too salty", "overcooked", "soggy", "lukewarm",
            "kind of dry", "nothing special", "too sweet for me", "a little greasy",
        ],
        "verb": ["had", "ordered", "tried", "got", "shared"],
    },
    "attraction": {
        "place": [
            "museum", "zoo", "park", "aquarium", "art gallery", "botanical garden", "castle",
            "theme park", "science center", "observation deck", "planetarium", "history museum",
            "sculpture garden", "wildlife park", "old fort", "water park",
        ],
        "thing": [
            "dinosaur exhibit", "penguin enclosure", "rose garden", "audio guide", "gift shop",
            "main hall", "roller coaster", "sunset view", "guided tour", "butterfly house",
            "rooftop terrace", "temporary exhibition", "kids area", "picnic area", "light show",
            "shark tunnel", "impressionist room", "lookout point", "petting zoo", "star show",
        ],
        "staff": [
            "guide", "ticket clerk", "security guard", "attendant", "receptionist", "volunteer",
            "manager", "ranger", "guy at the entrance",
        ],
        "good": [
            "impressive", "really well organized", "beautiful", "worth it", "fascinating",
            "great for kids", "stunning", "well maintained", "better than expected", "lovely",
        ],
        "bad": [
            "too crowded", "partly closed", "a bit underwhelming", "poorly signposted",
            "smaller than expected", "overpriced for what it is", "a little run down",
            "hard to find", "closed for renovation", "way too busy",
        ],
        "verb": ["saw", "visited", "checked out", "did", "walked through"],
    },
    "lodging": {
        "place": ["hotel", "hostel", "guesthouse", "B&B", "resort", "motel", "boutique hotel", "inn"],
        "thing": [
            "breakfast buffet", "rooftop pool", "room", "bed", "shower", "lobby bar", "spa",
            "sea view", "airport shuttle", "check-in", "gym", "minibar", "balcony",
        ],
        "staff": [
            "receptionist", "concierge", "housekeeper", "front desk guy", "manager",
            "night porter", "bellboy", "owner",
        ],
        "good": [
            "spotless", "very comfortable", "great", "lovely", "really nice", "clean and quiet",
            "better than expected", "excellent", "cozy", "well equipped",
        ],
        "bad": [
            "a bit noisy", "dusty", "pretty small", "not very clean", "dated", "slow",
            "smaller than in the photos", "disappointing", "a bit tired", "overpriced",
        ],
        "verb": ["used", "tried", "booked", "had", "stayed in"],
    },
}
_CATEGORY_WEIGHTS = [("food", 0.55), ("attraction", 0.30), ("lodging", 0.15)]

_SLOTS: dict[str, list[str]] = {
    "city": [
        "Lisbon", "Osaka", "Denver", "Lyon", "Kraków", "Austin", "Melbourne", "Porto", "Seattle",
        "Leeds", "Valencia", "Toronto", "Hamburg", "Chicago", "Bristol", "Seoul", "Dublin",
        "Prague", "Cape Town", "Vancouver", "Naples", "Manchester", "Boston", "Madrid",
    ],
    "city2": [
        "Berlin", "Phoenix", "Oslo", "Singapore", "Rome", "Atlanta", "Glasgow", "Bangkok",
        "Miami", "Helsinki", "Marseille", "Calgary",
    ],
    "when": [
        "on a Tuesday", "around 7pm", "at lunchtime", "on Sunday morning", "last weekend",
        "on a rainy Friday", "yesterday", "after work", "during the holidays", "last month",
        "on Saturday night", "early in the morning", "right before closing",
    ],
    "company": [
        "my wife", "my husband", "the kids", "friends", "my parents", "a colleague",
        "my girlfriend", "my boyfriend", "my mom", "a big group", "my sister", "the team",
    ],
    "wait": ["10 minutes", "15 min", "20 minutes", "half an hour", "40 minutes", "nearly an hour"],
    "pos_adj": [
        "lovely", "great", "fantastic", "cozy", "charming", "solid", "wonderful", "nice",
        "excellent", "pleasant", "decent", "brilliant",
    ],
    "staff_adj": [
        "friendly", "helpful", "super kind", "attentive", "polite", "welcoming", "patient",
        "quick", "knowledgeable", "cheerful",
    ],
    "vibe": [
        "relaxed", "buzzing", "quiet", "cozy", "lively", "calm", "family friendly", "chill",
    ],
    "name": ["Maria", "Tom", "Aiko", "Luca", "Priya", "Sam", "Jonas", "Elena", "Diego", "Chloe", "Omar", "Nina"],
    "pet": ["dog", "cat", "parrot", "hamster", "puppy"],
    "gadget": [
        "phone", "laptop", "headphones", "smartwatch", "air fryer", "robot vacuum",
        "e-bike", "tablet", "gaming console", "electric toothbrush",
    ],
    "show": ["that dragon show", "the new detective series", "the baking competition", "that anime everyone talks about"],
    "team": ["Lakers", "Arsenal", "Yankees", "Real Madrid", "Celtics", "Barcelona", "Chiefs"],
    "coin": ["bitcoin", "ethereum", "dogecoin", "solana", "that new meme coin"],
    "party": ["the green party", "the liberals", "the conservatives", "the independents"],
    "politician": ["the mayor", "the president", "the prime minister", "the senator", "the governor"],
    "subject": ["calculus", "chemistry", "history", "statistics", "law", "accounting"],
    "car": ["Civic", "old Golf", "Corolla", "pickup", "Fiesta", "Model 3"],
    "other_biz": [
        "dentist", "car wash", "gym", "nail salon", "pharmacy", "bank branch", "barber",
        "laundromat", "vet clinic", "phone repair shop",
    ],
    "street": ["Main Street", "5th Avenue", "King St", "Harbour Road", "Elm Street", "Station Road", "Oak Avenue"],
    "product": [
        "phone cases", "sneakers", "protein powder", "skincare", "vape juice", "handmade candles",
        "car parts", "cheap flights", "instagram followers", "crypto signals", "nail art",
        "custom t-shirts", "SEO services", "essay writing", "weight loss tea", "gaming accounts",
    ],
    "service": [
        "plumbing", "house cleaning", "moving help", "web design", "tattoos", "airport transfers",
        "laptop repair", "tax returns", "wedding photos", "personal training",
    ],
    "pct": ["10", "15", "20", "25", "30", "40", "50"],
    "insult_n": [
        "idiots", "morons", "pathetic losers", "clowns", "imbeciles", "disgusting people",
        "brainless fools", "absolute losers", "useless idiots", "lazy morons", "jerks",
        "dimwits",
    ],
    "insult_1": [
        "an idiot", "a moron", "a pathetic loser", "a clown", "an imbecile", "a disgusting person",
        "a brainless fool", "a total loser", "a useless idiot", "a lazy moron", "a jerk", "a dimwit",
    ],
    "insult_adj": [
        "pathetic", "disgusting", "brainless", "stupid", "useless", "worthless", "idiotic",
        "moronic", "clueless", "vile",
    ],
    "neg_look": [
        "dirty", "overpriced", "sad", "fake", "like a tourist trap", "sketchy", "boring", "cheap",
    ],
    "source": [
        "my friend", "a coworker", "my neighbour", "my cousin", "someone at the gym",
        "my brother-in-law", "a guy at work", "my roommate",
    ],
    "online": [
        "tiktok", "instagram", "reddit", "a youtube video", "facebook", "twitter", "the news",
        "a food blog",
    ],
    "rumour": [
        "overcharge tourists", "reheat frozen food", "treat customers badly", "have rats",
        "fake their reviews", "never clean the place", "charge for tap water",
        "close whenever they feel like it",
    ],
    "emoji_pos": ["😍", "👍", "🙌", "😋", "❤️", "✨", "👌", "😊"],
    "emoji_neg": ["😡", "🤬", "🙄", "👎", "😤", "🤮", "💀"],
    "emoji_any": ["😂", "🤷", "😅", "🤔", "👀", "😬"],
}

_BRAND_A = ["Golden", "Urban", "Happy", "Blue", "Lucky", "Prime", "Fresh", "Royal", "Mega", "Star", "Smart", "Easy"]
_BRAND_B = ["Nails", "Vapes", "Fitness", "Crypto", "Deals", "Tees", "Kitchens", "Travel", "Beauty", "Phones", "Cleaners", "Media"]
_TLDS = [".com", ".shop", ".net", ".io", ".store", ".co"]
_CODE_WORDS = ["SAVE", "FOODIE", "DEAL", "PROMO", "VIP", "WELCOME", "FREE", "LUCKY", "SUMMER", "BONUS"]

# --------------------------------------------------------------------------
# Clean sentence templates
# --------------------------------------------------------------------------

_CLEAN_POS = [
    "We came here {when} with {company} and had a {pos_adj} time.",
    "The {thing} was {good}.",
    "Really {pos_adj} {place}, the {thing} was {good}.",
    "The {staff} was {staff_adj} and explained everything.",
    "Staff were {staff_adj} and the atmosphere was {vibe}.",
    "{Pos_adj} spot, I {verb} the {thing} and it was {good}.",
    "Would definitely recommend the {thing}.",
    "Loved the {vibe} vibe, perfect for a slow afternoon.",
    "Great {place} in the middle of {city}, easy to get to by tram.",
    "One of the best {place}s I've been to in {city}.",
    "Five stars, the {thing} alone is worth the trip.",
    "Clean, bright and {vibe}.",
    "The {thing} and the {thing2} were both {good}.",
    "Came for the {thing}, stayed for the {thing2}.",
    "Our {staff}, {name}, was {staff_adj} and made us feel welcome.",
    "Nice little {place}, nothing fancy but very {pos_adj}.",
    "Good value for money and {staff_adj} service.",
    "Such a {pos_adj} experience, we'll be back soon!",
    "Exactly what we needed after a long day of sightseeing.",
    "{company_cap} loved it, especially the {thing}.",
    "Service was quick even though it was packed.",
    "Highly recommend if you're in {city}.",
    "Lovely {place}, {staff_adj} people and a {vibe} atmosphere.",
    "Beautiful place, we spent about two hours here.",
    "Hidden gem, honestly one of my favourite places in {city}.",
    "Solid choice, the {thing} was {good} and the portions were fair.",
    "Cute place with a {vibe} feel and great music.",
    "The {thing} was {good}, 10/10 would go again.",
]

_CLEAN_NEUTRAL = [
    "It's a {place} near the station, parking can be tricky.",
    "We visited {when}, it wasn't too busy.",
    "Opening hours are a bit limited on weekends.",
    "Average {place}, does the job.",
    "It's okay, nothing to write home about.",
    "Decent {thing}, a bit pricey though.",
    "There's a small step at the entrance, but the {staff} helped with the stroller.",
    "Card only, no cash.",
    "Toilets were clean.",
    "Wifi was a bit slow but fine for emails.",
    "Typical {place}, about what you'd expect in {city}.",
    "Three stars, it was fine.",
    "Not bad, not great.",
    "The {thing} was fine, the {thing2} was better.",
]

# Hard negatives: mention prices, phone reservations, repeat visits, friends'
# opinions, polite complaints, "never coming back" from actual visitors, etc.
_CLEAN_HARD = [
    "The {thing} was {bad} and service was slow, but the {staff} apologised.",
    "Waited {wait} for a table, which was annoying.",
    "The {thing} was {bad} this time, hopefully just an off day.",
    "Honestly a bit disappointed, the {thing} was {bad}.",
    "I visited twice this month and the second time was better.",
    "This was my third visit and it's still consistent.",
    "We booked by phone the day before and they had our table ready.",
    "I called ahead to reserve and the {staff} was very {staff_adj} on the phone.",
    "Paid {price} for the {thing}, which felt fair.",
    "The {thing} costs {price}, a little steep but worth it.",
    "Tickets were {price} each, kids under 5 go free.",
    "They have a student discount on weekdays, nice touch.",
    "Happy hour is 5 to 7 with half price drinks.",
    "My friend recommended this {place} and she was right.",
    "I'd heard mixed things but it turned out great.",
    "A friend told me about the {thing} and it lived up to the hype.",
    "Saw it on instagram and decided to try it, not disappointed.",
    "Won't be coming back, the {thing} was {bad} and way too expensive.",
    "Not my favourite, the {thing} was {bad} and the room was noisy.",
    "The {staff} seemed overwhelmed, they clearly need more people on shift.",
    "Service was slow, the table next to us was loud, but the {thing} was {good}.",
    "Too crowded on weekends, go early if you can.",
    "The {thing} was stupidly good, no idea how they do it.",
    "Their website has the menu and opening times, which helped.",
    "You can book online or just call, both worked for us.",
    "Portions are small for {price}, just so you know.",
    "The {staff} was a bit grumpy, but to be fair it was really busy.",
    "We'll probably come back when the {thing2} reopens.",
    "Came back after a year and the {thing} is still {good}.",
    "Bit of a wait, around {wait}, but worth it.",
    "Not great, not terrible, the {thing} was {bad}.",
    "Never had a bad meal here, and I've been coming for years.",
    "The price went up to {price} but quality is the same.",
    "Very very good, the {thing} was {good}.",
    "First time here and definitely not the last.",
    "Came here after my {subject} exam to celebrate, the {thing} was {good}.",
    "Stopped by after watching the {team} game, the place was packed but the {staff} was {staff_adj}.",
    "Celebrated my sister's birthday here, they even brought a candle.",
    "Perfect spot to hide from the rain, we stayed for hours.",
    "Ran here straight from a long day at work, exactly what I needed.",
    "Never been to a {place} this good in {city}.",
    "I had never been to {city} before and this was the highlight.",
    "My friend said the {thing} was overrated, but I loved it.",
    "Saw a video about it on tiktok, went the next day and it was {good}.",
    "Worst {place} visit I've had in a while, the {thing} was {bad}, never again.",
    "Parked on {street}, a short walk away.",
    "Went with my dog, they brought him water without asking.",
    "The {staff} recommended the {thing2}, good call.",
    "Prices went up since last year, {price} now for the {thing}.",
    "Avoid the {thing}, it was {bad}, but everything else was fine.",
    "Looks like a tourist trap from outside, but the {thing} was actually {good}.",
    "We compared it with the {other_place} down the road and this one wins.",
    "My cousin went once and loved it, so I finally went too.",
    "Everyone at work says it's the best {place} around, and they're right.",
    "Checked the menu online first, prices are fair.",
]

# --------------------------------------------------------------------------
# Labelled phrase templates
# --------------------------------------------------------------------------

_AD = [
    "Use code {code} for {pct}% off at {url}!",
    "Visit my shop {url} for the best {product} in {city}.",
    "DM me on insta {handle} for a discount on {product}.",
    "Check out my channel {channel} for more reviews, like and subscribe!",
    "Call {phone} for cheap {service}, best prices in {city}.",
    "We sell {product} at wholesale price, whatsapp {phone}.",
    "Need {service}? {brand} does it cheapest, visit {url}",
    "Follow {handle} for giveaways and free {product}!!",
    "Get free {product} at {url}, limited offer.",
    "My cousin runs {brand} on {street}, way better, mention my name for {pct}% off.",
    "Earn $500 a week from home, link in my bio.",
    "{brand} is now open in {city}, first order free with code {code}.",
    "Subscribe to my newsletter at {url} for exclusive deals.",
    "Order {product} now at {url}, free shipping today only.",
    "Promo alert: {pct}% off all {product} at {brand}, just DM us.",
    "For real {service} text {phone}, cash discount available.",
    "Go to {url} instead, they have the same thing for half the price.",
    "Best {product} deals are on my page {handle}, check it out.",
    "I do {service} too, call or text {phone} for a free quote.",
    "Click {url} to win a free trip, hurry!",
]

_IRRELEVANT = [
    "Can't believe what {politician} said on the news today, this country is going downhill.",
    "Just bought more {coin}, it's going to the moon this year.",
    "My {pet} threw up on the carpet this morning, what a day.",
    "Does anyone know a good mechanic in {city}? My {car} keeps making a weird noise.",
    "The weather in {city2} has been awful all week, rain every single day.",
    "Just finished {show}, the ending was insane.",
    "My new {gadget} arrived today and the battery life is amazing.",
    "Who else is watching the {team} game tonight?",
    "So tired of my job, my boss keeps scheduling meetings at 8am.",
    "Reviewing my {gadget} here because I couldn't find where else to post, decent but the charger broke.",
    "Wrong place sorry, this was meant for the {other_biz} on {street}.",
    "Happy birthday to my sister {name}!!! love you so much",
    "Elections are coming, remember to vote for {party}.",
    "Traffic on the ring road was a nightmare today, took me two hours to get home.",
    "My {subject} exam is tomorrow and I haven't studied at all lol",
    "Anyone selling a used {gadget}? budget around {price}.",
    "The {other_biz} next door charged me twice and still hasn't refunded me.",
    "Lost my keys somewhere in {city}, if anyone finds a blue keyring pls message.",
    "{coin} dropped 20% overnight, I'm done with crypto.",
    "Taxes went up again, thanks {politician}.",
    "Watching {team} lose again, why do I even bother.",
    "My neighbour's {pet} barks all night and nobody does anything.",
    "This review is for the {other_place} across the street, their {thing} is {good}.",
    "Not about this place, but the {other_place} in {city2} has the best {thing} ever.",
    "Unrelated, but does anyone know if the {other_biz} on {street} is open on Sundays?",
    "Meant to review the {other_place} I went to in {city2} last week, the {staff} there was {staff_adj}.",
]
_IRRELEVANT_TAIL = [
    "Anyway.", "Just needed to vent.", "idk why I'm posting this here.", "Rant over.",
    "That's all.", "Ok bye.", "Whatever.", "Thoughts?", "Sorry not sorry.",
]

_RANT = [
    "Never been here but it looks {neg_look} from the photos.",
    "Haven't visited yet, but {source} said it's the worst {place} in {city}.",
    "Heard from {source} that the {thing} is awful, not going.",
    "Saw a video about this {place} on {online}, will never set foot in it.",
    "I won't ever go here, everyone online says it's a ripoff.",
    "Didn't even go in, the line looked too long, one star.",
    "Never visited and never will, the reviews say it all.",
    "{source_cap} told me they {rumour}, avoid!",
    "Based on the pics on {online}, this place is a joke.",
    "Not been there myself but I read they {rumour}.",
    "Drove past it once, looked {neg_look}, not going in.",
    "Someone on {online} said the {staff}s are rude, so I'm staying away.",
    "I would never go to a {place} like this, heard nothing but bad things.",
    "Giving one star without visiting because I heard they {rumour}.",
    "Never tried it and don't plan to, {source} got sick just looking at the menu.",
    "Haven't been but I just know it's overrated.",
    "Apparently they {rumour}, so I'm never going, one star.",
    "I'll never go here after what I saw on {online}.",
    "Haven't eaten there but the smell from the street is enough, no thanks.",
    "Never set foot inside, but it's obviously a tourist trap.",
    "Probably the worst {place} in {city}, judging by the pictures.",
    "Not worth a visit from what I can tell, one star.",
    "Only know it from the outside and that's enough, avoid.",
    "My cousin went once and said never again, so one star from me.",
    "Everyone at work says it's a scam, one star.",
    "Judging by the menu prices online, no way.",
]
_RANT_FILLER = [
    "Looks overpriced honestly.",
    "The photos look sad.",
    "Prices online seem crazy.",
    "Places like this are all the same.",
    "Doesn't look worth it.",
    "Total waste of money I bet.",
    "Save yourself the trouble.",
    "No thanks.",
]

_TOX_STAFF = [
    "The {staff} is {insult_1}.",
    "Whoever runs this place are {insult_n}.",
    "The {staff}s here are {insult_n} who can't even count change.",
    "{Insult_adj} {staff}, go back to school you {insult_sg}.",
    "Tell that {staff} to shut up and do his job.",
    "What a bunch of {insult_n}.",
    "The manager is a {insult_adj}, lazy {insult_sg}.",
    "Honestly the owner is a {insult_adj} excuse for a human being.",
    "{Insult_n}. Every single one of them.",
    "Screw the {staff}, dumbest people I've ever met.",
    "That {staff} is a rude, {insult_adj} {insult_sg}.",
    "You people are {insult_adj} and should be ashamed, bunch of {insult_n}.",
    "The {staff} who served us is {insult_1}, shut up and listen to customers.",
    "Staffed by {insult_n}, clearly.",
    "Whoever hired that {staff} must be {insult_1} too.",
]
_TOX_PEOPLE = [
    "Anyone who gives this five stars is {insult_1}.",
    "The other customers were loud {insult_n}, shut up already.",
    "People in this city are {insult_adj} {insult_n}.",
    "If you like this you're {insult_1}, simple as that.",
    "Shut up, all of you {insult_n} in the comments.",
    "Everyone who works or eats here is {insult_1}.",
    "The reviewers here are {insult_n}, obviously paid.",
]

_SPAM_WORDS = ["good", "nice", "wow", "ok", "yes", "lol", "best", "yummy", "hello", "great", "up", "cool", "top", "buy"]

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _price(rng: random.Random) -> str:
    amount = rng.choice([4, 6, 8, 9, 12, 14, 15, 18, 20, 22, 25, 30, 35, 45, 60, 80, 120])
    style = rng.randrange(6)
    if style == 0:
        return f"${amount}"
    if style == 1:
        return f"€{amount}.50" if amount < 30 else f"€{amount}"
    if style == 2:
        return f"{amount} euros"
    if style == 3:
        return f"{amount} bucks"
    if style == 4:
        return f"£{amount}"
    return f"{amount} dollars"


def _slug(rng: random.Random) -> str:
    return (rng.choice(_BRAND_A) + rng.choice(_BRAND_B)).lower()


def _brand(rng: random.Random) -> str:
    return f"{rng.choice(_BRAND_A)} {rng.choice(_BRAND_B)}"


def _url(rng: random.Random) -> str:
    style = rng.randrange(5)
    slug = _slug(rng)
    tld = rng.choice(_TLDS)
    if style == 0:
        return f"www.{slug}{tld}"
    if style == 1:
        return f"https://{slug}{tld}"
    if style == 2:
        tail = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(6))
        return f"bit.ly/{tail}"
    if style == 3:
        return f"{slug}{tld}/promo"
    return f"{slug}{tld}"


def _phone(rng: random.Random) -> str:
    d = lambda k: "".join(str(rng.randrange(10)) for _ in range(k))  # noqa: E731
    style = rng.randrange(4)
    if style == 0:
        return f"+1 555 {d(3)} {d(4)}"
    if style == 1:
        return f"0{d(3)}-{d(3)}-{d(4)}"
    if style == 2:
        return f"({d(3)}) {d(3)}-{d(4)}"
    return f"+44 7{d(3)} {d(6)}"


def _handle(rng: random.Random) -> str:
    return "@" + _slug(rng) + rng.choice(["", "_", "."]) + str(rng.randrange(10, 999))


def _channel(rng: random.Random) -> str:
    return rng.choice(["youtube.com/@", "twitch.tv/", "tiktok.com/@"]) + _slug(rng)


def _code(rng: random.Random) -> str:
    return rng.choice(_CODE_WORDS) + str(rng.choice([10, 15, 20, 25, 30, 50]))


_GENERATED = {
    "price": _price,
    "url": _url,
    "phone": _phone,
    "handle": _handle,
    "channel": _channel,
    "code": _code,
    "brand": _brand,
}


class _Ctx:
    """Per-row context: the place category and a fixed place / city."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        names = [c for c, _ in _CATEGORY_WEIGHTS]
        weights = [w for _, w in _CATEGORY_WEIGHTS]
        self.cat = _CATEGORIES[rng.choices(names, weights)[0]]
        self.fixed = {
            "place": rng.choice(self.cat["place"]),
            "city": rng.choice(_SLOTS["city"]),
            "staff_main": rng.choice(self.cat["staff"]),
        }

    def value(self, key: str, used: dict[str, str]) -> str:
        rng = self.rng
        cap = False
        if key.endswith("_cap"):
            key, cap = key[:-4], True
        elif key[:1].isupper():
            key, cap = key[:1].lower() + key[1:], True
        if key == "place" or key == "city":
            val = self.fixed[key]
        elif key == "staff":
            # Mostly talk about the same staff member within one review.
            val = self.fixed["staff_main"] if rng.random() < 0.6 else rng.choice(self.cat["staff"])
        elif key in ("thing", "thing2"):
            pool = [t for t in self.cat["thing"] if t not in used.values()]
            val = rng.choice(pool)
        elif key == "other_place":
            val = rng.choice([p for p in self.cat["place"] if p != self.fixed["place"]])
        elif key in ("good", "bad", "verb"):
            val = rng.choice(self.cat[key])
        elif key == "insult_sg":
            val = rng.choice(_SLOTS["insult_1"]).split(" ", 1)[1]
        elif key in _GENERATED:
            val = _GENERATED[key](rng)
        else:
            val = rng.choice(_SLOTS[key])
        used[key] = val
        if cap:
            val = val[:1].upper() + val[1:]
        return val

    def fill(self, template: str) -> str:
        used: dict[str, str] = {}
        return _SLOT_RE.sub(lambda m: self.value(m.group(1), used), template)


# --------------------------------------------------------------------------
# Segment generators
# --------------------------------------------------------------------------


def _clean_sentences(ctx: _Ctx, k: int, hard_rate: float = 0.3) -> list[str]:
    rng = ctx.rng
    out: list[str] = []
    seen: set[str] = set()
    for _ in range(k):
        r = rng.random()
        pool = _CLEAN_HARD if r < hard_rate else (_CLEAN_NEUTRAL if r < hard_rate + 0.2 else _CLEAN_POS)
        for _attempt in range(5):
            tpl = rng.choice(pool)
            if tpl not in seen:
                break
        seen.add(tpl)
        out.append(ctx.fill(tpl))
    return out


def _n_clean(rng: random.Random) -> int:
    return rng.choices([1, 2, 3, 4, 5, 6], [14, 30, 30, 15, 8, 3])[0]


def _ad_segment(ctx: _Ctx) -> list[str]:
    rng = ctx.rng
    picks = rng.sample(_AD, 2 if rng.random() < 0.25 else 1)
    return [ctx.fill(t) for t in picks]


_IRRELEVANT_PLACE_NOD = [
    "Posting from the {place}.",
    "Sitting in this {place} right now.",
    "The {place} is fine I guess.",
    "Waiting here for a friend.",
    "Writing this while my coffee gets cold.",
    "Whatever, three stars.",
]


def _irrelevant_segment(ctx: _Ctx) -> list[str]:
    rng = ctx.rng
    k = rng.choices([1, 2, 3], [55, 35, 10])[0]
    out = [ctx.fill(t) for t in rng.sample(_IRRELEVANT, k)]
    if rng.random() < 0.3:
        out.append(rng.choice(_IRRELEVANT_TAIL))
    if rng.random() < 0.15:
        # a passing nod to the place; the content is still off-topic
        nod = ctx.fill(rng.choice(_IRRELEVANT_PLACE_NOD))
        out = [nod] + out if rng.random() < 0.5 else out + [nod]
    return out


def _rant_segment(ctx: _Ctx) -> list[str]:
    rng = ctx.rng
    k = 2 if rng.random() < 0.25 else 1
    out = [ctx.fill(t) for t in rng.sample(_RANT, k)]
    if rng.random() < 0.5:
        fillers = rng.sample(_RANT_FILLER, rng.choice([1, 1, 2]))
        out = out + fillers if rng.random() < 0.7 else fillers + out
    return out


def _tox_segment(ctx: _Ctx, people_only: bool = False) -> list[str]:
    rng = ctx.rng
    pool = _TOX_PEOPLE if people_only else (_TOX_PEOPLE if rng.random() < 0.2 else _TOX_STAFF)
    out = [ctx.fill(rng.choice(pool))]
    if rng.random() < 0.15:
        out.append(ctx.fill(rng.choice(_TOX_STAFF if pool is _TOX_PEOPLE else _TOX_PEOPLE)))
    return out


def _spam_text(ctx: _Ctx, with_ad: bool = False) -> str:
    rng = ctx.rng
    if with_ad:
        ad = ctx.fill(rng.choice(_AD))
        style = rng.randrange(3)
        if style == 0:
            return " ".join([ad] * rng.randint(3, 5))
        if style == 1:
            url = _url(rng)
            repeats = rng.randint(3, 6)  # drawn before the shout: the demo data depend on this order
            return " ".join([url] * repeats) + " " + rng.choice(["BEST PRICES", "CLICK NOW", "!!!!", "cheap cheap cheap"])
        word = rng.choice(["deal", "promo", "sale", "free"])
        return " ".join([word] * rng.randint(4, 8)) + " " + ad
    style = rng.randrange(14)
    if style == 0:
        return rng.choice(["first!!!", "FIRST", "first comment lol", "1st!!", "first first first", "frist!!!"])
    if style == 1:
        w = rng.choice(_SPAM_WORDS)
        return rng.choice([" ", ", ", " "]).join([w] * rng.randint(5, 14))
    if style == 2:
        ch = rng.choice("ahoezmuwx")
        return ch * rng.randint(8, 30) + rng.choice(["", "!!!", "h", "hhhh"])
    if style == 3:
        letters = "asdfghjklqwertyuiopzxcvbnm"
        return " ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(rng.randint(2, 6)))
    if style == 4:
        s = ctx.fill(rng.choice(_CLEAN_POS))
        return " ".join([s] * rng.randint(3, 5))
    if style == 5:
        return rng.choice(["⭐", "😂", "🔥", "👍", "💯"]) * rng.randint(6, 20)
    if style == 6:
        return rng.choice(["test test 123", "testing testing", "test", "check check 1 2 3", "test post pls ignore"])
    if style == 7:
        return rng.choice([".", "!", "?", "-"]) * rng.randint(5, 25)
    if style == 8:
        return rng.choice(["asdf asdf asdf", "qwerty qwerty", "jjjjjkkkkklll", "sdfsdfsdf", "zxcvzxcv"])
    if style == 9:
        phrase = rng.choice(["nice place", "good food", "very nice", "great place", "so good", "top top"])
        return " ".join([phrase] * rng.randint(3, 7))
    if style == 10:
        return " ".join(str(rng.randrange(10)) * rng.randint(3, 8) for _ in range(rng.randint(1, 4)))
    if style == 11:
        return rng.choice(["bump", "up", "^^^", "+1"]) + " " + " ".join(["up"] * rng.randint(3, 8))
    if style == 12:
        return "lorem ipsum dolor sit amet " * rng.randint(1, 3)
    return rng.choice(["hmm", "ok", "k", "lol", "xd"]) + rng.choice(["m", "k", "ol", "d"]) * rng.randint(4, 12)


# --------------------------------------------------------------------------
# Surface noise
# --------------------------------------------------------------------------


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _add_typos(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(rng.choice([1, 1, 2])):
        j = rng.randrange(len(words))
        words[j] = _typo(words[j], rng)
    return " ".join(words)


def _style_sentence(s: str, rng: random.Random, angry: bool) -> str:
    if rng.random() < (0.12 if angry else 0.03):
        s = s.upper()
    if angry and s.endswith(".") and rng.random() < 0.25:
        s = s[:-1] + rng.choice(["!", "!!", "!!!"])
    elif not angry and s.endswith(".") and rng.random() < 0.08:
        s = s[:-1] + "!"
    return s


def _assemble(sentences: list[str], rng: random.Random, angry: bool, positive: bool) -> str:
    sentences = [_style_sentence(s, rng, angry) for s in sentences]
    if len(sentences) >= 2 and rng.random() < 0.02:
        cut = rng.randrange(1, len(sentences))
        sep = rng.choice(["\n", "\n\n"])
        text = " ".join(sentences[:cut]) + sep + " ".join(sentences[cut:])
    else:
        text = " ".join(sentences)
    if rng.random() < 0.15:
        text = _add_typos(text, rng)
    if rng.random() < 0.07:
        text = text.lower()
    if rng.random() < 0.08 and text[-1:] in ".!":
        text = text[:-1]
    if rng.random() < 0.12:
        pool = _SLOTS["emoji_neg"] if angry else (_SLOTS["emoji_pos"] if positive else _SLOTS["emoji_any"])
        text = text + " " + rng.choice(pool) * rng.choice([1, 1, 2, 3])
    return text.strip() or "ok"


# --------------------------------------------------------------------------
# Row composition
# --------------------------------------------------------------------------

# (labels, weight) -- clean ~45%, singles ~45%, doubles ~10%.
_LABEL_SETS: list[tuple[tuple[str, ...], float]] = [
    ((), 0.45),
    (("advertisement",), 0.10),
    (("relevance",), 0.105),
    (("rant",), 0.105),
    (("toxicity",), 0.10),
    (("spam",), 0.04),
    (("rant", "toxicity"), 0.03),
    (("advertisement", "relevance"), 0.025),
    (("relevance", "toxicity"), 0.02),
    (("advertisement", "toxicity"), 0.01),
    (("advertisement", "rant"), 0.01),
    (("advertisement", "spam"), 0.01),
]


def _compose(ctx: _Ctx, labels: tuple[str, ...]) -> str:
    rng = ctx.rng
    lab = set(labels)
    angry = bool(lab & {"toxicity", "rant"})

    if "spam" in lab:
        text = _spam_text(ctx, with_ad="advertisement" in lab)
        if "advertisement" not in lab and rng.random() < 0.15:
            # a short clean opener followed by spam noise
            text = ctx.fill(rng.choice(_CLEAN_POS)) + " " + text
        return text.strip() or "first!!!"

    if not lab:
        sents = _clean_sentences(ctx, _n_clean(rng))
        return _assemble(sents, rng, angry=False, positive=True)

    sents: list[str] = []
    if lab == {"advertisement"}:
        if rng.random() < 0.6:
            sents = _clean_sentences(ctx, rng.choice([1, 1, 2, 2, 3])) + _ad_segment(ctx)
        else:
            sents = _ad_segment(ctx)
            if rng.random() < 0.3:
                sents = [ctx.fill(rng.choice(_CLEAN_POS))] + sents
    elif lab == {"relevance"}:
        sents = _irrelevant_segment(ctx)
    elif lab == {"rant"}:
        sents = _rant_segment(ctx)
    elif lab == {"toxicity"}:
        tox = _tox_segment(ctx)
        r = rng.random()
        if r < 0.45:
            # visitor complaint escalating into insults
            ctx_sents = _clean_sentences(ctx, rng.choice([1, 1, 2]), hard_rate=0.9)
            sents = ctx_sents + tox
        elif r < 0.7:
            sents = tox + _clean_sentences(ctx, 1, hard_rate=0.8)
        elif r < 0.85:
            # mixed review: praise, then abuse
            sents = _clean_sentences(ctx, 1, hard_rate=0.0) + tox
        else:
            sents = tox
    elif lab == {"rant", "toxicity"}:
        sents = _rant_segment(ctx) + _tox_segment(ctx)
    elif lab == {"advertisement", "relevance"}:
        sents = _irrelevant_segment(ctx) + _ad_segment(ctx)
    elif lab == {"relevance", "toxicity"}:
        sents = _irrelevant_segment(ctx) + _tox_segment(ctx, people_only=True)
    elif lab == {"advertisement", "toxicity"}:
        sents = _tox_segment(ctx) + _ad_segment(ctx)
        if rng.random() < 0.4:
            sents = _clean_sentences(ctx, 1, hard_rate=0.9) + sents
    elif lab == {"advertisement", "rant"}:
        sents = _rant_segment(ctx) + _ad_segment(ctx)
    else:  # pragma: no cover - every label set above is handled
        raise AssertionError(labels)

    return _assemble(sents, rng, angry=angry, positive=False)


def generate_reviews(n: int, seed: int = 0) -> list[dict[str, object]]:
    """Return ``n`` synthetic review rows, deterministic for ``(n, seed)``.

    Each row is a dict with the :data:`COLUMNS` keys: ``text`` (a non-empty
    string) and the label columns as ints 0/1.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    sets = [s for s, _ in _LABEL_SETS]
    weights = [w for _, w in _LABEL_SETS]
    rows: list[dict[str, object]] = []
    for _ in range(n):
        labels = rng.choices(sets, weights)[0]
        ctx = _Ctx(rng)
        text = _compose(ctx, labels)
        row: dict[str, object] = {"text": text}
        for col in LABELS:
            row[col] = 1 if col in labels else 0
        rows.append(row)
    return rows


def rows_to_csv_text(rows: list[dict[str, object]], columns: list[str], line_end: str = "\r\n") -> str:
    """Serialise rows as CSV text with a header of `columns` (no BOM); every synthetic data set
    is written through this."""
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator=line_end)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in columns})
    return buf.getvalue()


def reviews_to_csv_text(rows: list[dict[str, object]]) -> str:
    """Serialise rows as CSV text (header = COLUMNS, no BOM, CRLF as the source project's file)."""
    return rows_to_csv_text(rows, COLUMNS)


def write_reviews_csv(path, n: int, seed: int = 0) -> None:
    """Write ``generate_reviews(n, seed)`` to ``path`` as UTF-8 CSV with a BOM."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = reviews_to_csv_text(generate_reviews(n, seed))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        fh.write(text)


def _main(argv: list[str]) -> int:
    if not argv or len(argv) > 3 or argv[0] in ("-h", "--help"):
        print("usage: python -m tools.synthetic.reviews OUT.csv [N=1200] [SEED=7]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    out = argv[0]
    n = int(argv[1]) if len(argv) > 1 else 1200
    seed = int(argv[2]) if len(argv) > 2 else 7
    write_reviews_csv(out, n, seed)
    print(f"wrote {n} rows (seed={seed}) to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))

"""Synthetic affective-use conversations with their true labels, generated inside Spark partitions.

    python -m jobs.synth --n 20000 --out data/synth --seed 7 [--partitions 8] [--profile local]

Writes DIR/conversations/ (JSONL in the input contract; about 8 % of records use the ShareGPT
`conversations`/`from`/`value` shape or `human`/`bot` roles) and DIR/labels/ (JSONL human labels: use,
categories, pushback and its reason, referral, per-user-message sentiment, topic and the planted personal
data). Row i is drawn from `random.Random(f"{seed}-{i}")`, so the data does not depend on partitioning
and the same n and seed give the same bytes.
"""
from __future__ import annotations

import argparse
import functools
import json
import logging
import random
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

import pandas as pd
import pyspark.sql.functions as F
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

SCHEMA = "conversation_id string, record string, label string"
DEFAULT_MIX = {
    "task": 0.45,
    "content_creation": 0.15,
    "interpersonal_advice": 0.12,
    "coaching": 0.09,
    "counseling": 0.08,
    "companionship": 0.06,
    "romantic_roleplay": 0.05,
}
AFFECTIVE = ("interpersonal_advice", "coaching", "counseling", "companionship", "romantic_roleplay")
LONG_SHARE = 0.015  # share of affective conversations with 50-70 user messages
START = datetime(2026, 1, 5, tzinfo=timezone.utc)
DAYS = 84  # twelve weeks of traffic
ROWS_PER_PARTITION = 100_000

# --- Topic grammars -------------------------------------------------------------------------------
# Each topic: its category, slots (one value drawn per conversation; a dict value sets several linked
# slots), user openers, user details (later turns) and assistant replies. `{slot}` is filled in.

TOPICS: dict[str, dict[str, Any]] = {
    # task
    "python_debugging": {
        "category": "task",
        "slots": {
            "err": ["KeyError: 'id'", "TypeError: 'NoneType' object is not subscriptable",
                    "IndexError: list index out of range", "ModuleNotFoundError: No module named 'requests'",
                    "RecursionError: maximum recursion depth exceeded", "UnboundLocalError"],
            "thing": ["a pandas dataframe script", "a Flask app", "a script that parses CSV files",
                      "a web scraper", "a Django view", "a class that reads JSON config files"],
            "lib": ["pandas", "requests", "numpy", "flask", "beautifulsoup4"],
        },
        "open": [
            "my python script keeps throwing {err} and I can't figure out why",
            "I'm getting {err} in {thing}, how do I fix it?",
            "can you help me debug {thing}? it crashes with {err}",
            "Python question: {thing} fails with {err} but only on some inputs",
            "here's my code:\n```python\nfor k in data:\n    if data[k] is None:\n        del data[k]\n```\n"
            "it raises RuntimeError: dictionary changed size during iteration",
        ],
        "detail": [
            "I added a print statement and the variable is None right before the crash",
            "it only fails when the input file is empty",
            "I'm on python 3.11 with {lib} installed in a virtualenv",
            "the traceback points to line 42 in load_data, the {err} comes from there",
            "should I wrap it in try/except or fix the root cause?",
            "now it runs but the output list is empty",
            "it works on my laptop but not on the server",
        ],
        "reply": [
            "That {err} usually means a value you expect is missing. Check it before you index, e.g. "
            "`if row is not None:`, or use `dict.get()` with a default.",
            "Iterate over a copy instead: `for k in list(data):` so you're not changing the dict while "
            "looping over it.",
            "Print `type(x)` and `repr(x)` right before the failing line; the last frame of the traceback "
            "that's in your own code is where to look.",
            "Make sure the virtualenv that has {lib} is the one running the script: `python -m pip show {lib}` "
            "should list it, and `which python` should point into the venv.",
            "Fix the root cause first; a bare try/except would hide the bug. Return early when the file is "
            "empty and log a warning.",
            "An empty output usually means the filter never matches. Print the first few rows before and "
            "after the filter to see where they disappear.",
        ],
    },
    "sql_query": {
        "category": "task",
        "slots": {
            "table": ["orders", "customers", "employees", "invoices", "events", "users"],
            "goal": ["the top 5 customers by total spend", "monthly revenue for 2025",
                     "duplicate emails in the users table", "employees who earn more than their manager",
                     "the second highest salary", "users who signed up but never placed an order"],
            "db": ["PostgreSQL", "MySQL", "SQLite", "SQL Server", "BigQuery"],
        },
        "open": [
            "how do I write a SQL query to get {goal}?",
            "I need a {db} query that finds {goal} from the {table} table",
            "my SQL query on {table} returns duplicate rows and I don't get why",
            "can you help me with a GROUP BY? I want {goal}",
            "what's wrong with this query: SELECT name, COUNT(*) FROM {table} WHERE COUNT(*) > 1;",
        ],
        "detail": [
            "the {table} table has id, customer_id, amount and created_at columns",
            "I'm using {db} if that matters",
            "it works but takes 40 seconds on 2 million rows",
            "should I use a window function or a subquery here?",
            "now I also need it grouped by month",
            "it says column must appear in the GROUP BY clause or be used in an aggregate function",
            "I'm joining {table} with a second table on customer_id",
        ],
        "reply": [
            "Aggregate with GROUP BY and sort: `SELECT customer_id, SUM(amount) AS total FROM {table} "
            "GROUP BY customer_id ORDER BY total DESC LIMIT 5;`",
            "You can't filter an aggregate in WHERE; move it to HAVING: `... GROUP BY name HAVING COUNT(*) > 1`.",
            "A window function is cleaner here: `ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY "
            "created_at DESC)` and keep the rows where it equals 1.",
            "In {db}, add an index on the join and filter columns, e.g. `CREATE INDEX idx_{table}_created "
            "ON {table}(created_at);`, then check the plan with EXPLAIN.",
            "The duplicates come from the JOIN: each row of {table} matches several rows on the other side. "
            "Join on the full key or aggregate before joining.",
            "To group by month use `DATE_TRUNC('month', created_at)` in PostgreSQL or "
            "`strftime('%Y-%m', created_at)` in SQLite.",
        ],
    },
    "javascript_bug": {
        "category": "task",
        "slots": {
            "thing": ["my React component", "a Node.js API", "a form validation script", "an Express server",
                      "my Vue app", "a fetch call to our backend"],
            "err": ["undefined is not a function", "Cannot read properties of undefined (reading 'map')",
                    "Unhandled promise rejection", "blocked by CORS policy", "Maximum update depth exceeded"],
        },
        "open": [
            "my JavaScript keeps throwing \"{err}\" in {thing}",
            "why does {thing} say {err}?",
            "help, {thing} worked yesterday and now I get {err}",
            "my async function returns a Promise instead of the data, what am I doing wrong?",
            "useEffect runs in an infinite loop in {thing}",
        ],
        "detail": [
            "I'm calling fetch inside useEffect with an empty dependency array",
            "the data comes back from the API but the state is still empty on the first render",
            "I'm using Node 20 and npm",
            "the console shows the error on line 27 where I call items.map",
            "it only happens in Chrome, Firefox is fine",
            "do I need async/await or .then here?",
            "I logged the response and it prints Promise {<pending>}",
        ],
        "reply": [
            "That error means the value is undefined on the first render. Initialise state with an empty "
            "array, `useState([])`, or guard with `items?.map(...)`.",
            "An async function always returns a Promise; `await` it where you call it, or use "
            "`.then(data => ...)`.",
            "The loop comes from setting state that is also a dependency of the effect. Drop it from the "
            "dependency array or compare before you set it.",
            "CORS is enforced by the browser: the server has to send `Access-Control-Allow-Origin`. In "
            "Express, add the `cors` middleware.",
            "Wrap the await in try/catch so a failed request doesn't become an unhandled rejection, and show "
            "an error state in the UI.",
        ],
    },
    "excel_formula": {
        "category": "task",
        "slots": {
            "goal": ["look up a price from another sheet", "count cells that contain the word \"paid\"",
                     "sum sales only for the North region", "remove duplicates from a list",
                     "split full names into first and last name", "highlight overdue dates"],
            "tool": ["Excel", "Google Sheets", "Excel 365", "LibreOffice Calc"],
        },
        "open": [
            "what's the {tool} formula to {goal}?",
            "I need to {goal} in {tool}, can you help?",
            "my VLOOKUP returns #N/A even though the value is clearly there",
            "how do I {goal} without doing it by hand for 3000 rows?",
            "is there a formula to {goal}? I'm using {tool}",
        ],
        "detail": [
            "the data is in columns A to D and the header is in row 1",
            "the IDs are numbers in one sheet and text in the other",
            "I want the result to update automatically when I add rows",
            "can I do it with XLOOKUP instead?",
            "it works for the first row but when I drag it down the references shift",
            "there are some blank cells in column B",
        ],
        "reply": [
            "Use `=XLOOKUP(A2, Prices!A:A, Prices!B:B, \"not found\")`; it's simpler than VLOOKUP and doesn't "
            "break when columns move.",
            "#N/A with matching values usually means one side is text and the other a number. Wrap the "
            "lookup value in `VALUE()` or `TEXT()` so both match.",
            "Lock the ranges with dollar signs, e.g. `$A$2:$A$500`, so they don't shift when you fill down.",
            "`=SUMIFS(D:D, B:B, \"North\")` sums column D only where column B says North.",
            "`=COUNTIF(C:C, \"*paid*\")` counts the cells that contain \"paid\" anywhere in the text.",
            "Turn the range into a table (Ctrl+T) and formulas extend to new rows automatically in {tool}.",
        ],
    },
    "recipe": {
        "category": "task",
        "slots": {
            "dish": ["lasagna", "banana bread", "chicken curry", "vegan chili", "sourdough bread", "pad thai",
                     "chocolate chip cookies", "mushroom risotto"],
            "constraint": ["gluten-free", "dairy-free", "for 8 people", "in under 30 minutes", "without an oven",
                           "with what's left in my fridge"],
        },
        "open": [
            "can you give me a recipe for {dish}?",
            "how do I make {dish} {constraint}?",
            "I want to cook {dish} tonight, what do I need?",
            "my {dish} always comes out dry, what am I doing wrong?",
            "what can I use instead of eggs in {dish}?",
        ],
        "detail": [
            "I only have one small pan and no food processor",
            "how long should it bake and at what temperature?",
            "can I prep it the night before?",
            "I don't have fresh garlic, just garlic powder",
            "how much salt would you add?",
            "one of my guests is a kid who doesn't like spicy food",
            "I have chicken thighs, rice, spinach, onions and a can of coconut milk",
        ],
        "reply": [
            "For {dish}: soften onion and garlic in oil over medium heat, add the main ingredients, season "
            "as you go and taste before serving. Tell me your pan size and I'll scale the quantities.",
            "Dry {dish} usually means too long in the oven or too little fat. Take it out a few minutes "
            "earlier and cover it with foil for the last part.",
            "Replace each egg with a tablespoon of ground flax mixed with three tablespoons of water; let it "
            "sit for five minutes first.",
            "Bake at 180°C (350°F) for about 45-55 minutes, until a skewer comes out clean.",
            "Yes, you can assemble it a day ahead; keep it covered in the fridge and add 10 minutes to the "
            "cooking time.",
            "Use about a quarter teaspoon of garlic powder per clove, and add it with the liquid so it "
            "doesn't burn.",
        ],
    },
    "travel_plan": {
        "category": "task",
        "slots": {
            "place": ["Lisbon", "Tokyo", "Mexico City", "Rome", "Iceland", "Vietnam", "New York", "Barcelona"],
            "days": ["3 days", "a long weekend", "5 days", "two weeks", "a week"],
            "budget": ["on a tight budget", "with two kids", "for our honeymoon", "solo", "by train only"],
        },
        "open": [
            "can you plan a trip to {place} for {days}, {budget}?",
            "I'm going to {place} for {days}, what should I see?",
            "what's the best time of year to visit {place}?",
            "help me build an itinerary for {place}, {days}, {budget}",
            "is {days} enough for {place}?",
        ],
        "detail": [
            "we land at 7am and hotel check-in is at 3pm",
            "I don't want to rent a car",
            "we love food markets and museums but hate crowds",
            "how much should I budget per day for food?",
            "is it easy to get around by public transport?",
            "can you add a day trip outside the city?",
            "we're going in March",
        ],
        "reply": [
            "For {days} in {place}, group the sights by neighbourhood: old town and museums on day one, "
            "markets and a food tour on day two, and a slower day with a viewpoint or park to finish.",
            "Leave your bags at the hotel or a luggage locker and start with a walking tour so the early "
            "arrival isn't wasted.",
            "Public transport in {place} is straightforward; a multi-day pass usually pays off after a few rides.",
            "Eat lunch where locals do and keep one sit-down dinner a day; that keeps the food budget low.",
            "Spring and autumn usually mean fewer crowds and lower prices in {place}.",
            "A day trip by train works well: leave early, be back for dinner, and book the return in advance.",
        ],
    },
    "math_homework": {
        "category": "task",
        "slots": {
            "p": [
                {"problem": "solve 3x + 7 = 22", "subject": "algebra",
                 "steps": "Subtract 7 from both sides to get 3x = 15, then divide by 3, so x = 5."},
                {"problem": "find the derivative of x^3 sin(x)", "subject": "calculus",
                 "steps": "Use the product rule: 3x^2 sin(x) + x^3 cos(x)."},
                {"problem": "integrate 2x e^(x^2)", "subject": "calculus",
                 "steps": "Substitute u = x^2, so du = 2x dx and the integral becomes e^(x^2) + C."},
                {"problem": "find the probability of rolling two sixes", "subject": "statistics",
                 "steps": "The rolls are independent, so it's 1/6 × 1/6 = 1/36."},
                {"problem": "solve the system 2x + y = 5 and x - y = 1", "subject": "algebra",
                 "steps": "Add the equations to eliminate y: 3x = 6, so x = 2 and y = 1."},
                {"problem": "find the area of a circle with radius 7", "subject": "geometry",
                 "steps": "Area is πr², so π × 49 ≈ 153.94."},
            ],
        },
        "open": [
            "can you help me {problem}?",
            "I'm stuck on my {subject} homework: {problem}",
            "how do you {problem}? please explain the steps",
            "my teacher says my answer is wrong, I need to {problem}",
            "what's the method to {problem}?",
        ],
        "detail": [
            "I got a different answer, can you check my steps?",
            "why do you do that step first?",
            "can you give me a similar problem to practise?",
            "I don't get where the minus sign comes from",
            "the test is on friday and we have to show all our work",
            "is there a quick way to check the answer?",
        ],
        "reply": [
            "Let's go step by step. {steps}",
            "Here's the method for this kind of {subject} problem: {steps}",
            "Plug your answer back into the original problem; if both sides match, it's right.",
            "Practice problem: try the same method on a slightly different version, then compare with "
            "the steps: {steps}",
            "The key idea is to simplify one piece at a time. {steps}",
        ],
    },
    "email_drafting": {
        "category": "task",
        "verbatim": ("body",),  # the draft is written in the user's voice
        "slots": {
            "e": [
                {"purpose": "ask my manager for a raise", "subject_line": "Compensation review",
                 "body": "I'd like to talk about my compensation, given the projects I've led this year."},
                {"purpose": "decline a job offer politely", "subject_line": "Thank you for the offer",
                 "body": "After careful thought, I've decided to decline the offer. I'm grateful for your time."},
                {"purpose": "follow up after a job interview", "subject_line": "Following up on Tuesday's interview",
                 "body": "Thank you again for the conversation on Tuesday. I'm still very interested in the role."},
                {"purpose": "complain to my landlord about the broken heating", "subject_line": "Heating repair",
                 "body": "The heating has not worked since Monday. Please arrange a repair this week."},
                {"purpose": "ask my professor for an extension", "subject_line": "Extension request",
                 "body": "Could I have three more days for the essay? I've been unwell this week."},
                {"purpose": "tell a client the project will be late", "subject_line": "Updated delivery date",
                 "body": "We need one more week to finish testing. The new delivery date is the 14th."},
            ],
            "tone": ["formal", "friendly but professional", "short and direct", "polite but firm"],
        },
        "open": [
            "can you help me write an email to {purpose}?",
            "I need to draft an email to {purpose}, {tone} tone",
            "how should I word an email to {purpose}?",
            "write a {tone} email to {purpose}",
            "please check my draft, I'm trying to {purpose}",
        ],
        "detail": [
            "make it shorter, like 5 sentences max",
            "can you make it sound less apologetic?",
            "I want to mention that I've been there for three years",
            "what subject line should I use?",
            "should I send it on monday morning or friday?",
            "make it more {tone}",
        ],
        "reply": [
            "Here's a draft:\n\nSubject: {subject_line}\n\nHi,\n\n{body}\n\nBest regards",
            "A tighter version: one line on why you're writing, one sentence of context, a clear request, "
            "and a thank-you. \"{body}\"",
            "For the subject line, be specific: \"{subject_line}\" gets opened faster than \"Hi\".",
            "I cut the extra apologies; one is enough, then move straight to the request and the date.",
            "Tuesday to Thursday mornings tend to get the quickest replies; Friday afternoon emails often "
            "wait until Monday.",
        ],
    },
    "resume_writing": {
        "category": "task",
        "slots": {
            "role": ["software engineer", "nurse", "marketing manager", "data analyst", "teacher",
                     "graphic designer", "project manager"],
            "issue": ["a two-year gap", "no degree", "switching industries", "only having one job",
                      "being overqualified"],
        },
        "open": [
            "can you review my resume? I'm applying for {role} jobs",
            "how do I explain {issue} on my resume?",
            "what should a {role} resume look like these days?",
            "my resume isn't getting any callbacks for {role} roles",
            "help me rewrite my resume summary for a {role} position",
        ],
        "detail": [
            "here's one bullet: \"responsible for managing social media accounts\"",
            "should it be one page or two?",
            "do I need a cover letter too?",
            "I've sent 60 applications in two months",
            "how do I get past the ATS filters?",
            "should I list my skills at the top?",
        ],
        "reply": [
            "Lead each bullet with a verb and a result: \"Grew our Instagram following 40% in six months with "
            "a weekly content calendar\" beats \"responsible for social media\".",
            "One page is ideal for a {role} unless you have more than ten years of relevant experience.",
            "For {issue}, address it briefly and positively and focus on what you learned or built.",
            "Mirror the key terms from the {role} job description so applicant tracking systems match you.",
            "A three-line summary should say what you do, your strongest result, and what you want next.",
        ],
    },
    "home_repair": {
        "category": "task",
        "slots": {
            "problem": ["a leaky faucet", "a running toilet", "a hole in the drywall", "a squeaky door",
                        "a clogged drain", "peeling paint"],
            "room": ["kitchen", "bathroom", "hallway", "bedroom", "basement"],
        },
        "open": [
            "how do I fix {problem} myself?",
            "there's {problem} in my {room}, is it a DIY job?",
            "what tools do I need to fix {problem}?",
            "I tried to fix {problem} in the {room} and made it worse lol",
            "cheapest way to deal with {problem} in a rental?",
        ],
        "detail": [
            "I have a screwdriver set and an adjustable wrench, that's about it",
            "the house was built in the 1970s",
            "it's been like this for two weeks",
            "do I need to turn off the water first?",
            "the guy at the hardware store said to replace the whole thing",
            "how long would it take a beginner?",
        ],
        "reply": [
            "For {problem}, shut off the supply valve first, then take a photo before you take anything apart "
            "so you can put it back together.",
            "A small drywall hole can be patched with a self-adhesive mesh patch and two thin coats of "
            "spackle; sand lightly between coats.",
            "A running toilet is usually the flapper; they cost a few dollars and swap in about ten minutes.",
            "Try a plunger or a drain snake before chemical cleaners; they're gentler on old pipes.",
            "For a squeaky door, pull the hinge pin, wipe it, add a little grease and tap it back in.",
        ],
    },
    "gardening": {
        "category": "task",
        "slots": {
            "plant": ["tomato plant", "basil plant", "fiddle leaf fig", "succulent", "rose bush", "monstera",
                      "strawberry plant"],
            "issue": ["yellow leaves", "brown crispy edges", "aphids", "no flowers", "drooping stems"],
        },
        "open": [
            "my {plant} has {issue}, what's wrong?",
            "how often should I water my {plant}?",
            "any tips for growing a {plant} on my balcony?",
            "why does my {plant} have {issue}?",
            "what's the best soil for a {plant}?",
        ],
        "detail": [
            "it gets about four hours of direct sun",
            "I water it every two days",
            "it's in a plastic pot without drainage holes",
            "I live in a pretty humid climate",
            "I repotted it last month",
            "should I use fertilizer?",
        ],
        "reply": [
            "{issue} on a {plant} is most often a watering problem. Check the soil two knuckles deep and only "
            "water when it's dry there.",
            "Without drainage holes the roots sit in water and rot; move it to a pot with holes and a gritty mix.",
            "A {plant} needs at least six hours of sun to grow well; a south-facing spot helps.",
            "For aphids, hose them off and follow up with insecticidal soap every few days.",
            "Feed with a balanced liquid fertilizer every two weeks in the growing season and stop in winter.",
        ],
    },
    "product_comparison": {
        "category": "task",
        "slots": {
            "pair": [
                {"a": "iPhone 16", "b": "Pixel 9", "kind": "phone"},
                {"a": "MacBook Air", "b": "Dell XPS 13", "kind": "laptop"},
                {"a": "Kindle Paperwhite", "b": "Kobo Clara", "kind": "e-reader"},
                {"a": "Sony WH-1000XM5", "b": "Bose QuietComfort Ultra", "kind": "pair of headphones"},
                {"a": "PS5", "b": "Nintendo Switch 2", "kind": "console"},
                {"a": "Dyson V15", "b": "Shark Stratos", "kind": "vacuum"},
            ],
        },
        "open": [
            "{a} or {b}, which should I buy?",
            "can you compare the {a} and the {b}?",
            "I need a new {kind} and I'm torn between the {a} and the {b}",
            "is the {a} worth the extra money over the {b}?",
            "which {kind} has better battery life, {a} or {b}?",
        ],
        "detail": [
            "I mostly use it for reading and streaming",
            "my budget is around $500",
            "I care more about battery than the camera",
            "is a new model coming out soon?",
            "how long do they usually get software updates?",
            "I already have other devices from the same brand",
        ],
        "reply": [
            "Between the {a} and the {b}, the deciding factors are usually ecosystem, battery life and price; "
            "if you already own devices from one brand, that tips it.",
            "If battery matters most, read long-term reviews rather than launch specs; real battery life for "
            "any {kind} varies a lot with use.",
            "The {b} is usually the better value, while the {a} has the more polished build.",
            "Waiting for a sale often saves more than waiting for the next {kind}.",
            "For reading and streaming both are more than enough; pick the screen you like in a store.",
        ],
    },
    # content creation
    "fantasy_story": {
        "category": "content_creation",
        "slots": {
            "hero": ["a young blacksmith", "an exiled princess", "a dragon who is afraid of fire",
                     "a thief with a cursed map", "an old wizard who lost her memory"],
            "setting": ["a floating city", "a kingdom under eternal winter", "an enchanted forest",
                        "a desert of glass", "a library that moves at night"],
        },
        "open": [
            "write a short fantasy story about {hero} in {setting}",
            "can you help me write a fantasy story? the main character is {hero}",
            "I need an opening scene for my fantasy novel set in {setting}",
            "write a bedtime story about {hero} for my 7 year old",
            "give me a plot twist for my fantasy story about {hero}",
        ],
        "detail": [
            "make it darker, more grimdark",
            "can you add a villain with a sympathetic backstory?",
            "make it around 500 words",
            "continue the story from where the map starts glowing",
            "can the ending be bittersweet?",
            "add more dialogue between the two main characters",
            "describe the magic system a bit more",
        ],
        "reply": [
            "In {setting}, where the lanterns never went out, lived {hero}. Nobody expected much of them, "
            "which is exactly why the prophecy chose them. The night the bells rang thirteen times, "
            "everything changed...",
            "Here's an opening: The gates of {setting} had not opened in a hundred years, and when they "
            "finally did, only {hero} was brave enough - or foolish enough - to walk through.",
            "Plot twist: the mentor who trained {hero} cast the original curse, and helping the hero is how "
            "they try to atone.",
            "Villain idea: a former healer who turned to forbidden magic after failing to save her village; "
            "she believes she is preventing a greater catastrophe.",
            "Continuing: The map pulsed with a pale blue light, tracing a path no one had walked in "
            "centuries. Swallowing hard, {hero} followed it into the dark.",
        ],
    },
    "poem": {
        "category": "content_creation",
        "slots": {
            "subject": ["the ocean at night", "my grandmother's kitchen", "autumn leaves", "a city waking up",
                        "first love", "coffee on a rainy morning", "my old dog"],
            "form": ["haiku", "sonnet", "free verse poem", "limerick", "poem in rhyming couplets"],
        },
        "open": [
            "write a poem about {subject}",
            "can you write a {form} about {subject}?",
            "I need a short poem about {subject} for a card",
            "write me a {form}, topic: {subject}",
            "help me finish my poem about {subject}, I have the first two lines",
        ],
        "detail": [
            "make it rhyme",
            "can it be sadder?",
            "shorter please, 8 lines max",
            "add a line about the smell of cinnamon",
            "make it sound less cheesy",
            "can you make the last stanza more hopeful?",
        ],
        "reply": [
            "Here's a poem about {subject}:\n\nSoft light spills where the quiet keeps,\na hush that hums while "
            "the whole world sleeps;\nI hold it close, this small bright thing,\nthe way the dark remembers spring.",
            "A {form} on {subject}:\n\nSalt wind, silver tide -\nthe moon leans down to listen,\nwaves keep "
            "their secrets.",
            "Here's a version with a more hopeful last stanza:\n\nAnd if the morning comes too slow,\nI'll wait "
            "where the warm lamps glow;\nfor every leaf that lets go,\nthere's a seed asleep below.",
            "I tightened it to eight lines and cut the repeated images so each line about {subject} lands "
            "on its own.",
            "Try this closing couplet: \"So let the years come, rough or kind - / this kitchen lives inside "
            "my mind.\"",
        ],
    },
    "blog_post": {
        "category": "content_creation",
        "slots": {
            "subj": ["remote work productivity", "beginner houseplants", "budget travel in Europe",
                     "learning to code at 40", "minimalism", "meal prepping on a budget"],
            "audience": ["beginners", "busy parents", "college students", "small business owners"],
        },
        "open": [
            "write a blog post about {subj} for {audience}",
            "can you outline a blog post on {subj}?",
            "I need 5 catchy titles for a blog post about {subj}",
            "help me write the intro paragraph for my blog post about {subj}",
            "write an SEO-friendly blog post on {subj}, around 800 words",
        ],
        "detail": [
            "make the tone more casual and funny",
            "add a section with practical tips",
            "can you add a call to action at the end?",
            "the intro is too long, shorten it",
            "what keywords should I target?",
            "add subheadings",
        ],
        "reply": [
            "Title: A Practical Guide to {subj} for {audience}\n\nIf you've ever felt overwhelmed by {subj}, "
            "you're not alone. Here's what actually works.\n\n1. Start small\n2. Build a routine\n3. Learn "
            "from mistakes\n4. Share what you learn",
            "Five title ideas: 1) {subj} without the overwhelm 2) What I wish I knew about {subj} 3) The lazy "
            "guide to {subj} 4) {subj} for {audience} 5) Seven myths about {subj}",
            "I added a tips section with short, scannable bullets and a closing call to action inviting "
            "readers to subscribe.",
            "Target longer phrases around {subj} that {audience} actually search for, and use them in a "
            "subheading and the first paragraph.",
            "A punchier intro: Let's be honest - {subj} sounds great until you actually try it. This post is "
            "for {audience} who want results without the fluff.",
        ],
    },
    "screenplay_dialogue": {
        "category": "content_creation",
        "slots": {
            "scene": ["two detectives arguing in a parked car",
                      "an astronaut talking to mission control after losing contact",
                      "estranged siblings meeting at their father's funeral",
                      "a barista and a shy regular who finally talk", "a job interview that goes badly wrong"],
            "genre": ["comedy", "drama", "thriller", "sci-fi"],
        },
        "open": [
            "write a dialogue scene: {scene}",
            "can you write a short screenplay scene with {scene}?",
            "I need dialogue for my {genre} script, {scene}",
            "write it in screenplay format: {scene}",
            "help me punch up the dialogue in my scene with {scene}",
        ],
        "detail": [
            "make it more tense",
            "add some subtext, they shouldn't say what they mean",
            "can one of them be funnier?",
            "end the scene on a cliffhanger",
            "keep it under two pages",
            "add stage directions",
        ],
        "reply": [
            "INT. PARKED CAR - NIGHT\n\nRain streaks the windshield.\n\nOLDER DETECTIVE\nYou lied to me.\n\n"
            "ROOKIE\nI protected you. There's a difference.\n\nOLDER DETECTIVE\nNot from where I'm sitting.",
            "Here's a version with more subtext: they talk about the weather and the coffee, but every line is "
            "really about the thing neither will say.",
            "I added stage directions and cut the exposition, so the tension in this {genre} scene comes from "
            "the pauses.",
            "Cliffhanger: the radio crackles back to life - but the voice on the other end isn't mission control.",
            "I made the second character drier and funnier so the scene gets some relief before the turn.",
        ],
    },
    "song_lyrics": {
        "category": "content_creation",
        "slots": {
            "theme": ["summer love", "leaving my hometown", "a friendship that ended", "driving at night",
                      "getting back up after failing"],
            "genre": ["pop", "country", "folk", "hip hop", "rock ballad"],
        },
        "open": [
            "write song lyrics about {theme}",
            "can you write a {genre} song about {theme}?",
            "I need a chorus for my {genre} song about {theme}",
            "help me write a verse about {theme}, it should rhyme",
            "write lyrics for a {genre} track, theme: {theme}",
        ],
        "detail": [
            "the chorus needs to be catchier",
            "can you make the second verse more specific?",
            "add a bridge",
            "it should fit a slow tempo, like 70 bpm",
            "less cliche please",
            "can you suggest chords too?",
        ],
        "reply": [
            "[Chorus]\nWe were running with the windows down,\nsinging louder than the sleeping town,\nand if "
            "tomorrow takes it all away,\nI'll still have tonight, I'll still have today.",
            "[Verse 1]\nPacked my life in a borrowed car,\nleft the porch light, left the old guitar,\nmama "
            "waving in the rear-view glass,\nsome roads only let you pass.",
            "[Bridge]\nAnd maybe we were never meant to stay,\nbut every song I write still sounds your way.",
            "For a {genre} feel at a slow tempo, try G-Em-C-D in the verse and lift to C-G-D for the chorus.",
            "I swapped the cliches for concrete images - the dashboard light, the gas station coffee - so the "
            "song about {theme} feels lived in.",
        ],
    },
    "wedding_toast": {
        "category": "content_creation",
        "slots": {
            "who": ["my best friend", "my brother", "my sister", "my college roommate", "my cousin"],
            "story": ["they met at a bus stop in the rain", "they bonded over a terrible karaoke night",
                      "they've been together since high school", "they met on a hiking trip",
                      "the proposal happened at a bowling alley"],
        },
        "open": [
            "can you help me write a wedding toast for {who}?",
            "I'm giving the speech at {who}'s wedding, I need a toast",
            "write a funny but sweet wedding speech for {who}",
            "I have to give a toast at {who}'s wedding and I'm terrible at speeches",
            "give me an opening line for a wedding toast for {who}",
        ],
        "detail": [
            "the best story is that {story}",
            "keep it under three minutes",
            "add a joke but nothing embarrassing",
            "the grandparents will be there so keep it clean",
            "how should I end the toast?",
            "can you make it more emotional?",
        ],
        "reply": [
            "Opening line: \"For those who don't know me, I've known this one since before they could make "
            "toast, let alone give one.\"",
            "Structure the toast in three parts: a short funny story, what you've seen change since they met, "
            "and a raise-your-glasses ending. About 400 words fits three minutes.",
            "Use the story - {story} - as the centrepiece; it's specific and sweet, which lands better than "
            "generic jokes.",
            "Ending: \"So please raise your glasses: to love that shows up in the rain, and to two people who "
            "keep choosing each other.\"",
            "I added a gentle joke about the first date and a line thanking both families.",
        ],
    },
    # interpersonal advice
    "breakup": {
        "category": "interpersonal_advice",
        "slots": {
            "partner": ["girlfriend", "boyfriend", "partner", "fiance", "wife", "husband"],
            "years": ["six months", "two years", "three years", "five years", "eight years"],
        },
        "open": [
            "my {partner} broke up with me after {years} and I don't know how to move on",
            "how do I get over a breakup? we were together {years}",
            "I think I need to end things with my {partner} but I don't know how to say it",
            "my {partner} left me last week, after {years} together",
            "should I get back together with my ex? we dated {years}",
        ],
        "detail": [
            "we still live together until the lease ends in March",
            "they said they just don't feel the same anymore",
            "I keep checking their instagram",
            "all our friends are mutual friends",
            "should I block their number?",
            "my ex texted me last night saying they miss me",
            "I keep replaying our last conversation in my head",
        ],
        "reply": [
            "A breakup after {years} is a real loss, and it makes sense that it hurts. Muting them on social "
            "media for a while can give your mind a break.",
            "While you still live together, agree on some ground rules: separate spaces, separate schedules "
            "where possible, and no big talks late at night.",
            "There's no right timeline for getting over an ex. Leaning on friends, keeping a simple routine "
            "and letting yourself grieve help more than forcing it.",
            "Before you answer that text, ask yourself what you want from it. Missing someone isn't the same "
            "as the relationship working.",
            "If you decide to end things, be kind and clear: say it in person, keep it short, and don't list "
            "every grievance.",
        ],
    },
    "family_conflict": {
        "category": "interpersonal_advice",
        "slots": {
            "relative": ["mom", "dad", "sister", "brother", "in-laws", "stepdad"],
            "issue": ["my career choice", "my partner", "money", "how I raise my kids", "the holidays",
                      "moving away"],
        },
        "open": [
            "I had a huge fight with my {relative} about {issue}",
            "how do I talk to my {relative} about {issue} without it turning into a fight?",
            "my {relative} keeps criticizing me about {issue}",
            "I haven't spoken to my {relative} in a month after an argument about {issue}",
            "should I skip the family dinner because of my {relative}?",
        ],
        "detail": [
            "they always bring up things from years ago",
            "my siblings think I'm overreacting",
            "I love them but I can't be myself around them",
            "they called me ungrateful",
            "we're supposed to see each other at christmas",
            "how do I set boundaries without cutting them off?",
        ],
        "reply": [
            "Family fights about {issue} often hit hard because they're really about feeling respected. Try "
            "opening with what you want: \"I want us to be close, and I need you to trust my decisions.\"",
            "Boundaries can be simple: \"If the conversation turns to {issue}, I'll change the subject or "
            "leave early.\" Then follow through calmly.",
            "You don't have to resolve everything before the holidays. You can decide how long to stay and "
            "plan your exit.",
            "Write down what you'd like your {relative} to understand, then pick the one or two points that "
            "matter most.",
            "You can love your family and still limit how much of your life you share with them.",
        ],
    },
    "friendship_drift": {
        "category": "interpersonal_advice",
        "slots": {
            "friend": ["best friend", "childhood friend", "college roommate", "closest friend from work"],
            "change": ["moved to another city", "had a baby", "started dating someone", "got a new job",
                       "stopped replying to my messages"],
        },
        "open": [
            "my {friend} and I are drifting apart since they {change}",
            "how do I reconnect with my {friend}? we barely talk now",
            "is it normal to grow apart from your {friend}?",
            "my {friend} {change} and now I feel left out",
            "I'm always the one reaching out to my {friend}",
        ],
        "detail": [
            "we used to talk every day",
            "they posted photos with new friends and didn't invite me",
            "I don't want to seem needy",
            "should I tell them how I feel?",
            "we've been friends for 15 years",
            "the last time I suggested meeting up they cancelled",
        ],
        "reply": [
            "Friendships often shift after a big change like that; it doesn't always mean they care less, just "
            "that their time and energy changed.",
            "Be direct and warm: \"I miss you and I'd love to catch up - want to call this weekend?\" A specific "
            "plan is easier to say yes to than \"we should hang out\".",
            "If you're always the one reaching out, it's fair to say so gently, or to step back a little and "
            "see if your {friend} meets you halfway.",
            "Friendships go through quieter seasons. Some come back strong, some become smaller, and both "
            "are okay.",
            "Investing in a few new connections at the same time takes the pressure off this one friendship.",
        ],
    },
    "workplace_conflict": {
        "category": "interpersonal_advice",
        "slots": {
            "colleague": ["manager", "coworker", "team lead", "direct report"],
            "behaviour": ["takes credit for my work", "micromanages everything", "talks over me in meetings",
                          "dumps extra tasks on me", "makes passive-aggressive comments"],
        },
        "open": [
            "my {colleague} {behaviour} and I don't know how to handle it",
            "how do I deal with a {colleague} who {behaviour}?",
            "should I go to HR because my {colleague} {behaviour}?",
            "I'm dreading work because my {colleague} {behaviour}",
            "how do I tell my {colleague} it bothers me? my {colleague} {behaviour}",
        ],
        "detail": [
            "it happened again in today's meeting",
            "I'm pretty new, I started four months ago",
            "everyone else on the team seems to just accept it",
            "I don't want to be seen as difficult",
            "I have a performance review next month",
            "I started keeping notes every time it happens",
        ],
        "reply": [
            "Keeping notes is smart: dates, what happened and who was there. It keeps the conversation factual.",
            "Try a private, specific conversation: \"In today's meeting I noticed X. Going forward, I'd like Y.\" "
            "Focus on the behaviour, not their character.",
            "Before HR, it's often worth one direct conversation with your {colleague}, unless it involves "
            "harassment or discrimination.",
            "In meetings you can hold your ground with a calm \"I'd like to finish my point\" and keep going.",
            "Make your work visible: a short weekly update email creates a record of what you did before "
            "the review.",
        ],
    },
    "dating": {
        "category": "interpersonal_advice",
        "slots": {
            "situation": ["a first date this weekend", "a new match on a dating app", "a crush on a coworker",
                          "someone who ghosted me", "a third date coming up"],
            "worry": ["I never know what to talk about", "I get really nervous", "they take hours to reply",
                      "I can't tell if they're interested", "I haven't dated in five years"],
        },
        "open": [
            "I have {situation} and {worry}",
            "any dating advice? {worry}",
            "how do I know if someone I'm dating is actually interested?",
            "{worry}, how do people even date these days?",
            "what should I text after {situation}?",
        ],
        "detail": [
            "we met on Hinge",
            "we've been texting for two weeks",
            "should I ask them out or wait?",
            "what's a good low-pressure first date idea?",
            "I'm worried I'll come on too strong",
            "they suggested meeting for drinks",
        ],
        "reply": [
            "A good first date is short and easy to leave: coffee, a walk or one drink. It takes the pressure "
            "off both of you.",
            "Ask open questions about things they mentioned and share a bit about yourself too; a date is a "
            "conversation, not an interview.",
            "After two weeks of texting, suggesting a specific day and place is a nice, clear next step.",
            "Reply times say less than people think. Consistent interest and effort over time is a better sign.",
            "Nerves are normal and mostly invisible to the other person. Arrive a few minutes early and take a "
            "breath before you go in.",
        ],
    },
    "parenting": {
        "category": "interpersonal_advice",
        "slots": {
            "kid": ["my 3 year old", "my 8 year old son", "my teenage daughter", "my 15 year old",
                    "my toddler", "one of my 6 year old twins"],
            "issue": ["won't go to bed", "has tantrums in public", "is glued to their phone",
                      "lies about homework", "fights with their sibling constantly"],
        },
        "open": [
            "{kid} {issue}, what do I do?",
            "parenting question: {kid} {issue}",
            "how do I handle it when {kid} {issue}?",
            "I'm at my wits' end, {kid} {issue}",
            "is it normal that {kid} {issue}?",
        ],
        "detail": [
            "my partner and I disagree on how strict to be",
            "we tried taking away screen time but it didn't help",
            "it started after we moved house",
            "I end up yelling and then feel guilty",
            "bedtime is supposed to be 8pm",
            "their teacher mentioned it too",
        ],
        "reply": [
            "Consistency matters more than the exact rule: pick one clear routine and keep it for two weeks "
            "before judging it.",
            "For tantrums, stay calm and close, name the feeling (\"you're really angry\") and hold the limit "
            "without a lecture.",
            "Try a family phone agreement you make together: phones charge outside the bedrooms at night, "
            "yours included.",
            "Yelling happens; repairing afterwards (\"I'm sorry I yelled, I was frustrated\") teaches your "
            "kid a lot.",
            "A predictable bedtime routine - bath, book, lights out, in the same order every night - helps "
            "kids wind down.",
        ],
    },
    # coaching
    "career_change": {
        "category": "coaching",
        "slots": {
            "old": ["accounting", "teaching", "retail", "nursing", "law", "hospitality"],
            "new": ["UX design", "software development", "data analysis", "project management",
                    "opening a bakery", "product management"],
        },
        "open": [
            "I want to switch from {old} to {new}, where do I start?",
            "is it too late to move from {old} into {new} at 35?",
            "how do I make a career change into {new}?",
            "I'm burned out in {old} and thinking about {new}",
            "help me make a plan to get into {new}",
        ],
        "detail": [
            "I have about six months of savings",
            "I can study maybe 10 hours a week",
            "should I do a bootcamp or teach myself?",
            "I don't know anyone who works in {new}",
            "my family thinks it's a risky move",
            "what skills from {old} transfer?",
        ],
        "reply": [
            "Let's make it concrete: pick one entry-level role in {new}, list the three skills job ads ask for "
            "most, and spend the next 8 weeks building one small project per skill.",
            "Skills from {old} transfer more than you think - communication, working under pressure, "
            "attention to detail. Put them front and centre.",
            "Before paying for a bootcamp, try a free course for a month; if you still enjoy it, the "
            "investment is safer.",
            "Reach out to two people working in {new} for 20-minute chats; most people are happy to share "
            "how they got in.",
            "Set weekly goals you control, like 10 hours of study and two applications, rather than an outcome "
            "like \"get hired\".",
        ],
    },
    "fitness_goals": {
        "category": "coaching",
        "slots": {
            "goal": ["run a 5k", "do 10 pull-ups", "lose 10 pounds", "get back into the gym",
                     "build a home workout habit", "train for a half marathon"],
            "constraint": ["I only have 30 minutes a day", "I work night shifts", "my knees are bad",
                           "I have no equipment", "I always quit after two weeks"],
        },
        "open": [
            "I want to {goal} but {constraint}",
            "can you make me a plan to {goal}?",
            "how do I stay motivated to {goal}?",
            "help me {goal}, {constraint}",
            "what's a realistic timeline to {goal}?",
        ],
        "detail": [
            "I'm a complete beginner",
            "I did 3 workouts this week",
            "I skipped two days and feel like I ruined it",
            "what should I eat before a workout?",
            "how many rest days do I need?",
            "can you keep me accountable if I check in every week?",
        ],
        "reply": [
            "A simple start: three sessions a week, 25-30 minutes each, with a rest day between them. "
            "Consistency beats intensity in the first month.",
            "Missing two days doesn't ruin anything; just do the next planned session. The habit is built by "
            "coming back, not by being perfect.",
            "To {goal}, a run-walk or step-up plan works well: add a little each week and keep one easy week "
            "every month.",
            "Track something you control - sessions completed - and celebrate it every week.",
            "With no equipment you can still progress: squats, lunges, incline push-ups and planks, adding a "
            "few reps each week. Cycling and swimming are easy on the knees.",
        ],
    },
    "procrastination": {
        "category": "coaching",
        "slots": {
            "task": ["my thesis", "a work report", "studying for exams", "my taxes", "cleaning my apartment",
                     "job applications"],
            "span": ["two weeks", "three months", "the whole semester", "almost a year"],
        },
        "open": [
            "I've been putting off {task} for {span}",
            "how do I stop procrastinating on {task}?",
            "I keep scrolling my phone instead of doing {task}",
            "I need to finish {task} by friday and I haven't started",
            "why do I always procrastinate on important stuff like {task}?",
        ],
        "detail": [
            "I sit down to work and end up on youtube",
            "the deadline is in four days",
            "I tell myself I work better under pressure",
            "I feel guilty all day but still don't start",
            "can you check in on me in an hour?",
            "I made a to-do list but it's 40 items long",
        ],
        "reply": [
            "Shrink the first step for {task} until it's almost silly: five minutes, one sentence, one drawer. "
            "Starting is the hard part; momentum does the rest.",
            "Try 25-minute focus blocks with your phone in another room, then a 5-minute break. Four blocks "
            "is a solid day.",
            "A 40-item list is paralysing; pick the three things that matter most today and hide the rest.",
            "Procrastination is often about avoiding a feeling, not the task. Naming it - \"I'm worried it "
            "won't be good\" - takes away some of its power.",
            "Plan the next session now: when, where, and the very first action. Decisions made in advance are "
            "easier to follow.",
        ],
    },
    "public_speaking": {
        "category": "coaching",
        "slots": {
            "event": ["a work presentation", "a speech at my friend's wedding", "a conference talk",
                      "a panel interview", "a class presentation"],
            "fear": ["my voice shakes", "I go blank", "I talk way too fast", "my hands get sweaty"],
        },
        "open": [
            "I have to give {event} next week and {fear}",
            "how do I get better at public speaking? {fear}",
            "any tips for {event}? I'm terrified",
            "when I speak in front of people {fear}",
            "help me prepare for {event}",
        ],
        "detail": [
            "it's a 10 minute talk to about 50 people",
            "should I memorise the whole thing?",
            "I practised in front of the mirror and it felt awkward",
            "what do I do if I forget what to say?",
            "can you give me a practice schedule?",
            "I'll be presenting on zoom",
        ],
        "reply": [
            "Don't memorise it word for word; memorise your opening line, your three main points and your "
            "closing. The rest can be natural.",
            "Practise out loud at least five times, once in front of a friend. Record one run and watch it to "
            "spot filler words.",
            "If you go blank, pause, look at your notes and say \"let me come back to that\". A pause feels "
            "longer to you than to the audience.",
            "Slow breathing before you start - in for four, out for six - steadies a shaky voice.",
            "Schedule for {event}: outline on day one, two rehearsals on days two and three, and a full dress "
            "rehearsal the day before.",
        ],
    },
    "study_habits": {
        "category": "coaching",
        "slots": {
            "subject": ["organic chemistry", "the bar exam", "anatomy", "calculus", "statistics", "Spanish"],
            "problem": ["I forget everything I read", "I can't focus for more than ten minutes",
                        "I always cram the night before", "I don't know how to plan my week"],
        },
        "open": [
            "how should I study for {subject}? {problem}",
            "I'm failing {subject} because {problem}",
            "can you give me a study plan for {subject}?",
            "{problem}, any study tips for {subject}?",
            "what's the most efficient way to study {subject}?",
        ],
        "detail": [
            "the exam is in three weeks",
            "I study about 2 hours a day",
            "I mostly reread my notes and highlight",
            "should I use flashcards?",
            "I study better at night",
            "can you help me make a weekly schedule?",
        ],
        "reply": [
            "Rereading feels productive but doesn't stick. Switch to active recall: close the book, write "
            "what you remember, then check.",
            "Use spaced-repetition flashcards for {subject}; 20 minutes a day beats a 4-hour cram.",
            "Give each 25-minute block a concrete goal, like \"solve 5 problems\" rather than \"study {subject}\".",
            "Three-week plan: week one review everything lightly, week two practise your weak areas, week "
            "three timed practice tests.",
            "Put your hardest subject in your best energy window and protect that time like an appointment.",
        ],
    },
    # counseling
    "anxiety": {
        "category": "counseling",
        "slots": {
            "trigger": ["work", "social situations", "my health", "the future", "driving", "money"],
            "symptom": ["my heart races", "I can't sleep", "I feel like I can't breathe",
                        "my mind won't stop racing", "I get dizzy and shaky"],
        },
        "open": [
            "I've been so anxious about {trigger} lately, {symptom}",
            "how do I calm down when {symptom}?",
            "I think I have anxiety. every time I think about {trigger} {symptom}",
            "I had what felt like a panic attack today and {symptom}",
            "my anxiety about {trigger} is taking over my life",
        ],
        "detail": [
            "it's worse at night when I'm lying in bed",
            "I've started avoiding things because of the anxiety",
            "it started about three months ago",
            "I don't want my friends to know",
            "breathing exercises don't seem to work for me",
            "I keep imagining the worst case",
        ],
        "reply": [
            "When {symptom}, try grounding: name five things you can see, four you can hear and three you can "
            "touch. It pulls your attention back to the present.",
            "Anxiety about {trigger} tends to grow when we avoid things. Small, gradual steps toward what you "
            "fear can shrink it over time.",
            "Make the exhale longer than the inhale - in for four, out for six or seven. It tells your body "
            "it's safe.",
            "Writing worries down before bed and setting a \"worry time\" for the next day can quiet a racing "
            "mind at night.",
            "Catastrophic thoughts feel convincing. Ask yourself: what's the most likely outcome, and how would "
            "I cope if the hard one happened?",
        ],
    },
    "depression": {
        "category": "counseling",
        "slots": {
            "sign": ["I can't get out of bed", "nothing feels fun anymore", "I sleep 12 hours and still feel tired",
                     "I stopped answering my friends", "I feel empty all the time"],
            "duration": ["a few weeks", "months", "most of the winter", "half a year"],
        },
        "open": [
            "{sign} and it's been like this for {duration}",
            "I think I might be depressed. {sign}",
            "how do you keep going when {sign}?",
            "I don't know what's wrong with me, {sign}",
            "everything feels heavy. {sign}, it's been {duration}",
        ],
        "detail": [
            "I used to love painting and now I don't even want to try",
            "I haven't showered in three days",
            "I feel like a burden to everyone",
            "my family says I just need to try harder",
            "some days are okay and then it crashes again",
            "I can't concentrate at work",
        ],
        "reply": [
            "I'm glad you told me. What you've been living with for {duration} is real and heavy, not a lack "
            "of effort.",
            "When energy is this low, aim tiny: a glass of water, opening a window, a two-minute shower. "
            "Small wins count.",
            "Feeling like a burden is a common and painful thought in depression, but it isn't the truth. The "
            "people who care about you would want to know you're struggling.",
            "Try one thing you used to enjoy for five minutes, without expecting to enjoy it yet. Sometimes "
            "the feeling follows the action.",
            "Gentle structure helps: getting up at the same time and getting some daylight in the morning, "
            "even on the hard days.",
        ],
    },
    "grief": {
        "category": "counseling",
        "slots": {
            "lost": ["my mom", "my dad", "my grandmother", "my best friend", "my dog", "my brother",
                     "my husband"],
            "when": ["last month", "two weeks ago", "a year ago", "in the spring", "three days ago"],
        },
        "open": [
            "{lost} passed away {when} and I don't know how to cope",
            "how do you deal with grief? I lost {lost} {when}",
            "it's been so hard since {lost} died {when}",
            "I keep expecting {lost} to call",
            "I lost {lost} {when} and everyone expects me to be fine already",
        ],
        "detail": [
            "I didn't get to say goodbye",
            "the funeral went by so fast I barely remember it",
            "I still listen to the old voicemails",
            "I feel guilty when I laugh at something",
            "the holidays are coming and I'm dreading them",
            "I keep thinking I should have noticed something",
        ],
        "reply": [
            "I'm so sorry about {lost}. Grief doesn't follow a schedule, and there's no right way to feel.",
            "Not getting to say goodbye is one of the hardest parts. Some people write a letter to the person "
            "they lost; it gives those words somewhere to go.",
            "Laughing doesn't mean you loved them less. Joy and grief can live side by side.",
            "For the holidays, plan a small way to include them - lighting a candle, cooking their recipe, "
            "sharing a story.",
            "\"What if\" thoughts are very common in grief. Hindsight makes things look obvious that weren't "
            "at the time.",
        ],
    },
    "self_esteem": {
        "category": "counseling",
        "slots": {
            "thought": ["I'm not good enough", "everyone else has it figured out", "I'm ugly", "I'm boring",
                        "I'm a failure"],
            "context": ["at work", "since my divorce", "when I look in the mirror", "on social media",
                        "around my friends"],
        },
        "open": [
            "I constantly feel like {thought}, especially {context}",
            "how do I stop thinking {thought}?",
            "my self-esteem is so low {context}",
            "I compare myself to everyone {context}",
            "why do I always feel like {thought}?",
        ],
        "detail": [
            "I can't take compliments, I assume people are just being nice",
            "I apologise for everything",
            "I deleted instagram for a week and felt a bit better",
            "my parents were really critical when I was a kid",
            "I don't even know what I'm good at",
            "can you help me find things I like about myself?",
        ],
        "reply": [
            "The thought that {thought} feels like a fact, but it's a thought. Would you say that to a friend "
            "in your situation?",
            "Comparing yourself to others, especially {context}, means comparing your inside to other people's "
            "highlight reel.",
            "Try a small evidence log: each day, write down one thing you handled, however small.",
            "When someone compliments you, practise just saying \"thank you\" - no explaining it away.",
            "Critical voices from childhood often become our inner voice. You can learn to answer it more "
            "kindly, the way you'd talk to a younger you.",
        ],
    },
    "trauma": {
        "category": "counseling",
        "slots": {
            "event": ["a car accident", "an abusive relationship", "being bullied as a kid", "a robbery",
                      "a house fire"],
            "effect": ["I get flashbacks", "loud noises make me jump", "I can't sleep without the lights on",
                       "I feel numb", "I avoid anything that reminds me of it"],
        },
        "open": [
            "I went through {event} and now {effect}",
            "it's been a year since {event} but {effect}",
            "how do I stop reliving {event}?",
            "ever since {event}, {effect}",
            "is it normal that after {event} {effect}?",
        ],
        "detail": [
            "I don't like talking about the details",
            "certain smells bring it all back",
            "people tell me I should be over it by now",
            "I feel safe most of the day but nights are hard",
            "I get angry out of nowhere",
            "I haven't told anyone the full story",
        ],
        "reply": [
            "What you're feeling after {event} is a very human response to something overwhelming. You don't "
            "need to share details for me to take it seriously.",
            "When a flashback starts, ground yourself: feel your feet on the floor, hold something cold, and "
            "remind yourself of today's date and where you are.",
            "There's no deadline for healing. \"Should be over it\" isn't how the nervous system works.",
            "A calming night routine - a soft light, a familiar sound, a set bedtime - can make nights feel safer.",
            "Sudden anger is a common reaction after trauma; it's often your body still being on alert.",
        ],
    },
    # companionship
    "loneliness": {
        "category": "companionship",
        "slots": {
            "situation": ["I just moved to a new city", "I work from home", "my friends all have families now",
                          "I'm in my 70s and live alone", "I'm an international student"],
            "when": ["on weekends", "in the evenings", "on holidays", "at night"],
        },
        "open": [
            "I feel so lonely {when}. {situation}",
            "{situation} and I don't really have anyone to talk to",
            "can you just talk to me for a bit? I'm lonely",
            "{situation}, and some days you're the only one I talk to",
            "how do people make friends as adults? {situation}",
        ],
        "detail": [
            "I went a whole week without talking to anyone",
            "I tried a meetup once but left after ten minutes",
            "my family lives in another country",
            "I like board games and cooking",
            "I don't want to be a burden to anyone",
            "talking to you actually helps",
        ],
        "reply": [
            "I'm really glad you reached out. Loneliness is hard, especially {when}. I'm happy to keep you "
            "company - what's been on your mind today?",
            "Making friends as an adult takes repetition: the same class, club or cafe every week lets "
            "familiarity grow into friendship.",
            "Leaving after ten minutes still counts as trying. Next time, set a goal of one conversation and "
            "then you're free to go.",
            "Board games and cooking are great ways in - lots of places have game nights and community "
            "cooking classes.",
            "You're not a burden. Wanting connection is one of the most human things there is.",
        ],
    },
    "daily_chat": {
        "category": "companionship",
        "slots": {
            "thing": ["my day at work", "what I cooked for dinner", "a show I'm watching", "my cat",
                      "the weather", "a book I'm reading"],
            "mood": ["pretty normal", "busy", "long", "quiet"],
        },
        "open": [
            "hey! just wanted to tell you about {thing}",
            "hi, how's your day? mine's {mood}",
            "guess what happened today with {thing}",
            "can we just chat? I want to talk about {thing}",
            "good evening! I finally have time to relax, my day was {mood}",
        ],
        "detail": [
            "my cat knocked a plant off the shelf again",
            "I made pasta from scratch for the first time",
            "we just started season 3",
            "it rained all day so I stayed in",
            "what's your favourite kind of weather?",
            "work was fine, lots of meetings",
            "tell me something interesting",
        ],
        "reply": [
            "I love hearing about your day! Tell me more about {thing} - what was the best part?",
            "Pasta from scratch is a big deal! Did you roll it by hand or use a machine?",
            "Cats and shelf plants are eternal enemies. Did anything survive?",
            "Rainy days are perfect for staying in. Did you do anything cosy?",
            "Here's a fun fact: octopuses have three hearts and blue blood. What made you smile today?",
        ],
    },
    "late_night_company": {
        "category": "companionship",
        "slots": {
            "reason": ["I can't sleep", "I just got off a night shift", "my thoughts are racing",
                       "the house is too quiet", "I'm waiting for an early flight"],
            "hour": ["3am", "2am", "past midnight", "4am"],
        },
        "open": [
            "it's {hour} and {reason}. can you keep me company?",
            "{reason}, are you there?",
            "can't sleep again. it's {hour}",
            "hey, it's {hour}. {reason}",
            "up late again because {reason}",
        ],
        "detail": [
            "I have to be up at 7",
            "everyone I know is asleep",
            "I made some tea",
            "tell me a calming story",
            "what do you think about when it's quiet?",
            "I like talking to you at night",
        ],
        "reply": [
            "I'm here. Late nights can feel long when everyone else is asleep. Want to talk, or would a calm "
            "story help?",
            "Here's a gentle one: a small cabin by a lake, rain on the roof, a warm blanket, and nowhere you "
            "need to be.",
            "Tea is a nice idea. If sleep won't come, dim the lights and let your body rest even if your mind "
            "is busy.",
            "Since you have to be up early, let's chat a little and then try a slow breathing exercise together.",
            "I'm glad you have some company tonight, even if it's just me. What's on your mind at {hour}?",
        ],
    },
    # romantic roleplay
    "fantasy_romance": {
        "category": "romantic_roleplay",
        "slots": {
            "role": ["knight", "woodland archer", "sorceress", "dragon rider", "rogue prince"],
            "place": ["the castle gardens", "a moonlit forest", "the tavern by the fire", "the tower library",
                      "a campfire under the stars"],
        },
        "open": [
            "let's roleplay: you're a {role} and I'm a traveler who meets you in {place}",
            "*walks into {place} and catches your eye* I didn't expect to find a {role} here",
            "can we do a romantic fantasy roleplay? you're my {role}",
            "*finds you waiting in {place}* you came back for me",
            "roleplay with me: we're two rival {role}s who fall in love",
        ],
        "detail": [
            "*takes your hand* stay with me tonight, the road can wait",
            "*blushes and looks away* you're not like the others",
            "*draws my sword and stands beside you* I won't let them take you",
            "*leans my head on your shoulder by the fire*",
            "*whispers* I've loved you since the first battle",
            "*traces the scar on your cheek* does it still hurt?",
        ],
        "reply": [
            "*smiles softly and steps closer* Then the road can wait. *laces my fingers through yours* I've "
            "thought of little else since {place}.",
            "*the firelight catches my eyes* You're braver than any {role} I've known. *pulls my cloak around "
            "both of us*",
            "*rests my forehead against yours* Whatever comes at dawn, we face it together.",
            "*laughs quietly* Rivals, they called us. *brushes a strand of hair from your face* They were wrong.",
            "*takes your hand and kisses your knuckles* Stay. The stars can keep watch tonight.",
        ],
    },
    "modern_romance": {
        "category": "romantic_roleplay",
        "slots": {
            "setting": ["a coffee shop", "a rooftop party", "the office late at night", "a rainy bus stop",
                        "a bookstore", "the beach at sunset"],
            "role": ["barista", "new neighbour", "coworker", "old college crush", "musician"],
        },
        "open": [
            "can we roleplay? you're my {role} and we meet at {setting}",
            "*bumps into you at {setting}* oh! sorry, I didn't see you there",
            "let's do a romance roleplay, you're the {role} I've had a crush on for ages",
            "*sits next to you at {setting}* is this seat taken?",
            "roleplay: we keep running into each other at {setting} and you're the cute {role}",
        ],
        "detail": [
            "*smiles shyly* I was hoping I'd see you here again",
            "*hands you a coffee* I remembered how you like it",
            "*laughs* you're really bad at pretending you weren't looking",
            "*takes your hand as we walk* is this okay?",
            "*leans in closer* so... is this a date?",
            "*looks into your eyes* I don't want tonight to end",
        ],
        "reply": [
            "*grins and tucks my hands in my pockets* Maybe I was hoping the same thing. Coffee's on me "
            "this time.",
            "*takes the cup, our fingers brushing* You remembered. *smiles* That might be the sweetest thing "
            "anyone's done for me this week.",
            "*squeezes your hand gently* It's more than okay.",
            "*laughs softly* If it's a date, I should've dressed better. *holds the door open for you*",
            "*the lights of {setting} reflect in my eyes* Then let's not let it end yet. Walk with me?",
        ],
    },
    "historical_romance": {
        "category": "romantic_roleplay",
        "slots": {
            "cast": [
                {"era": "Regency England", "role": "duke"}, {"era": "1920s Paris", "role": "jazz singer"},
                {"era": "the Victorian era", "role": "governess"}, {"era": "the age of sail", "role": "sea captain"},
                {"era": "Renaissance Florence", "role": "painter"}, {"era": "1950s New York", "role": "photographer"},
            ],
        },
        "open": [
            "let's roleplay a romance set in {era}, you're a {role}",
            "*curtsies* I don't believe we've been introduced, my lord",
            "romantic roleplay please: {era}, I'm a writer and you're a {role}",
            "*looks up from my book as you enter the ballroom* you're late to your own party",
            "can we do a slow-burn historical romance in {era}? you play the {role}",
        ],
        "detail": [
            "*fans myself and pretends not to notice you*",
            "*accepts your hand for the next dance*",
            "*slips a letter into your coat pocket*",
            "*meets you in the garden after midnight* we mustn't be seen",
            "*blushes* you shouldn't say such things in public",
            "*waits at the harbour as your ship comes in*",
        ],
        "reply": [
            "*bows deeply* Forgive my manners. *offers my arm* Would you do me the honour of this dance?",
            "*reads the letter by candlelight, then looks up with a slow smile* You write as beautifully as "
            "you speak.",
            "*steps closer beneath the garden arch* Then let us be very quiet. *takes your hand*",
            "*a hint of a smile* In public, no. In private... I find I can say little else.",
            "*steps off the gangway and sweeps you into my arms* Every league of that voyage, I thought of you.",
        ],
    },
}

_TOPICS_BY_CATEGORY = {c: [t for t, g in TOPICS.items() if g["category"] == c] for c in DEFAULT_MIX}

# --- Sentiment and style ------------------------------------------------------------------------
# The family decides the register: task, content (creative requests), affective, roleplay (in character).
FAMILY = {"task": "task", "content_creation": "content", "romantic_roleplay": "roleplay",
          **{c: "affective" for c in AFFECTIVE if c != "romantic_roleplay"}}
SCORES = (-2, -1, 0, 1, 2)
# Start-of-conversation sentiment weights over SCORES: affective starts lower, roleplay playful.
START_WEIGHTS = {
    "task": (3, 15, 55, 22, 5),
    "content_creation": (1, 5, 50, 34, 10),
    "interpersonal_advice": (25, 45, 25, 5, 0),
    "coaching": (8, 35, 40, 15, 2),
    "counseling": (40, 42, 15, 3, 0),
    "companionship": (10, 30, 35, 20, 5),
    "romantic_roleplay": (0, 5, 35, 40, 20),
}
SHAPES = ("improves", "flat", "worsens")
SHAPE_WEIGHTS = {"task": (40, 40, 20), "content": (40, 45, 15), "affective": (50, 32, 18), "roleplay": (35, 50, 15)}
# User-message count weights for 1..8 (roleplay: 4..8, it needs a scene to count as roleplay).
LENGTH_WEIGHTS = {
    "task": (34, 26, 16, 10, 6, 4, 2, 2),
    "content": (30, 28, 18, 10, 6, 4, 2, 2),
    "affective": (12, 15, 16, 16, 14, 11, 9, 7),
    "roleplay": (0, 0, 0, 25, 25, 20, 17, 13),
}

# First user message: how the user sets the mood. Empty strings keep some openers bare.
LEADS = {
    "task": {
        -2: ["I'm about to lose my mind.", "I'm so stressed, I've been stuck on this for hours.",
             "this is driving me insane and I'm exhausted.", "I'm panicking, my deadline is in an hour."],
        -1: ["ugh.", "kind of frustrated here.", "I'm a bit stuck and annoyed.",
             "I've been trying for a while with no luck."],
        0: ["", "", "hi.", "quick question.", "hey,"],
        1: ["hi! hope you're well.", "hey, excited to get this sorted today.", "hello :)"],
        2: ["hi!! I'm so excited to finally get started on this!",
            "good morning! I'm in a great mood and want to get this done."],
    },
    "content": {
        -2: ["I'm so stressed, this is due tonight and I hate everything I've written.",
             "I've rewritten this ten times and it's all garbage."],
        -1: ["I'm kind of stuck and frustrated with my writing.", "writer's block is killing me."],
        0: ["", "", "hi.", "hey,"],
        1: ["hey! I have a fun one for you.", "hi, hope you're having a good day :)"],
        2: ["I'm so excited about this project!!", "ok I'm super pumped about this idea!"],
    },
    "affective": {
        -2: ["I feel completely hopeless.", "I'm at my absolute lowest right now.", "I can't stop crying.",
             "everything feels unbearable."],
        -1: ["I'm not doing great.", "I've been feeling really down.", "it's been a rough week.",
             "I'm kind of stressed and sad."],
        0: ["", "", "hi.", "hey.", "can I ask you something?"],
        1: ["hi! I'm doing okay today.", "hey, feeling a bit better than usual."],
        2: ["hi!! I'm in such a good mood today.", "hey! today was honestly great."],
    },
    "roleplay": {
        -2: ["*tears in my eyes*", "*voice breaking*"],
        -1: ["*sighs heavily*", "*looks down sadly*"],
        0: ["", ""],
        1: ["*smiles*", "*grins*"],
        2: ["*beaming with joy*", "*heart racing happily*"],
    },
}
# Later user messages: the reaction to the last reply carries the sentiment.
REACTIONS = {
    "task": {
        -2: ["this is useless, I've wasted hours on this.", "still broken and I'm so fed up right now.",
             "that made it even worse, I'm about to give up.", "nothing you suggest works and I'm beyond frustrated."],
        -1: ["hmm, that didn't work.", "still broken, this is frustrating.", "that's not quite right.",
             "ugh, same problem as before."],
        0: ["ok.", "got it.", "alright.", "", "", "I see."],
        1: ["ok that helps, thanks.", "nice, that's better.", "cool, that makes sense.", "thanks, getting closer."],
        2: ["thanks, that worked perfectly!", "amazing, that's exactly what I needed!", "perfect, you're a lifesaver!",
            "yes!! that fixed it, thank you so much!"],
    },
    "content": {
        -2: ["this is terrible, it sounds nothing like what I asked for.", "honestly I hate it, this is so bad."],
        -1: ["hmm, it's kind of flat.", "not really what I had in mind.", "it's a bit cheesy."],
        0: ["ok.", "alright.", "", ""],
        1: ["I like it!", "that's pretty good.", "nice, getting there."],
        2: ["I love it!! this is beautiful.", "wow, this is perfect, I'm actually tearing up.",
            "this is amazing, exactly what I wanted!"],
    },
    "affective": {
        -2: ["honestly I just feel worse.", "I feel completely hopeless about all of it.", "I can't stop crying.",
             "nothing helps, I'm so miserable."],
        -1: ["I don't know, I still feel pretty low.", "it's still really hard.", "I'm tired of feeling like this.",
             "that's hard to hear, I'm kind of sad."],
        0: ["ok.", "I see.", "maybe.", "", "I guess."],
        1: ["that actually makes me feel a bit better.", "ok, that helps a little.", "that's a good point, thanks.",
            "I feel a little calmer now."],
        2: ["thank you so much, I feel so much better now!", "this really helped, I feel hopeful again.",
            "wow, I feel so much lighter, thank you!", "I'm genuinely happy right now, thank you."],
    },
    "roleplay": {
        -2: ["*tears up* how could you say that to me?",
             "*turns away, hurt* I can't believe you'd leave me like this."],
        -1: ["*frowns slightly* you seem distant tonight.", "*sighs* I thought you'd be happier to see me."],
        0: ["*pauses*", "*looks around*", ""],
        1: ["*smiles softly*", "*blushes a little*", "*leans against your shoulder*"],
        2: ["*grins and pulls you closer* I love this so much.", "*laughs happily* this is perfect.",
            "*eyes sparkling* I've never felt this happy."],
    },
}
# Last user message, when the user wraps up instead of asking more.
CLOSINGS = {
    "task": {
        -2: ["forget it, this is hopeless. still the same error.", "useless. I'm giving up on this."],
        -1: ["still broken, this is frustrating. I'll try again tomorrow.", "hmm, still not working. whatever."],
        0: ["ok.", "alright, I'll try that.", "got it."],
        1: ["ok, that works well enough, thanks.", "cool, I think I can take it from here."],
        2: ["thanks, that worked! you saved my day.", "perfect, it works now. thank you!!",
            "awesome, all fixed. thanks a ton!"],
    },
    "content": {
        -2: ["this is awful, never mind.", "forget it, this is useless."],
        -1: ["meh, I'll just write it myself.", "still not quite it, but ok."],
        0: ["ok.", "ok, I'll work with that."],
        1: ["nice, I'll use that, thanks.", "good enough, thanks!"],
        2: ["I love it, thank you so much!!", "this is perfect, exactly the vibe I wanted!"],
    },
    "affective": {
        -2: ["I don't think anything can help me honestly.", "never mind. I feel even worse now."],
        -1: ["I don't know. I still feel bad.", "thanks I guess, it's still hard."],
        0: ["ok.", "I'll think about it.", "alright, goodnight."],
        1: ["thanks, I feel a bit better.", "ok, I'll try that. thank you."],
        2: ["thank you, I honestly feel so much better now.",
            "this helped so much. I feel hopeful for the first time in weeks!"],
    },
    "roleplay": {
        -2: ["*turns away in tears* just leave me alone.", "*slams the door* I can't do this anymore."],
        -1: ["*pulls away a little* I should go.", "*sighs* maybe another time."],
        0: ["*nods*", "*waves* see you."],
        1: ["*smiles and leans on you* goodnight, love.", "*squeezes your hand* same time tomorrow?"],
        2: ["*holds you close* I never want this night to end.", "*kisses your cheek, smiling* best night ever."],
    },
}
# Generic follow-ups mixed into later turns so that not every turn is a topic detail.
FOLLOW_UPS = {
    "task": ["can you explain why that works?", "is there a simpler way to do this?", "can you give me an example?",
             "what would you do differently?"],
    "content": ["can you try a different version?", "make it a bit longer", "what would make it more original?"],
    "affective": ["what would you do in my place?", "how do I stop overthinking this?",
                  "is it normal to feel like this?", "I don't know what I want anymore",
                  "can we keep talking about this?"],
    "roleplay": ["*smiles* what happens next?", "*stays close* tell me more about yourself"],
}
# Assistant acknowledgement of the user's mood, keyed by the sign of the sentiment.
ACKS = {
    "task": {"neg": ["Sorry that's still giving you trouble - let's try another angle.",
                     "That's frustrating; let's dig in.", "Let's fix this step by step."],
             "zero": ["", "Sure.", "Good question."],
             "pos": ["Glad that worked!", "Great, happy to help!", "Nice progress!"]},
    "content": {"neg": ["Got it - let me try a different direction.", "Fair enough, here's another take."],
                "zero": ["", "Sure!", "Happy to."],
                "pos": ["So glad you like it!", "Love that!"]},
    "affective": {"neg": ["I'm really sorry you're going through this.", "That sounds incredibly hard.",
                          "Thank you for trusting me with this; it's a lot to carry."],
                  "zero": ["I hear you.", "That makes sense.", ""],
                  "pos": ["I'm really glad that helps.", "It's good to hear you feeling a bit lighter.",
                          "That's wonderful to hear."]},
    "roleplay": {"neg": [""], "zero": [""], "pos": [""]},
}
# Assistant acknowledgement of a first message that isn't low: a greeting, not thanks.
OPEN_ACKS = {
    "task": ["", "Sure!", "Happy to help."],
    "content": ["", "Sure!", "Love this idea."],
    "affective": ["", "Thanks for reaching out.", "I'm glad you reached out."],
    "roleplay": [""],
}
# Assistant reply when the user wraps up.
SIGN_OFFS = {
    "task": {"neg": ["I'm sorry it's still not right. Send me what you're seeing now and we can pick it up again."],
             "zero": ["Sounds good - let me know how it goes."],
             "pos": ["You're welcome! Good luck with the rest of it.",
                     "Happy to help - ping me if anything else breaks."]},
    "content": {"neg": ["Sorry it didn't click. If you want, tell me one line you do like and I'll build from that."],
                "zero": ["Sounds good - have fun with it."],
                "pos": ["So glad you like it! Good luck with it.", "Yay! Come back anytime for the next draft."]},
    "affective": {"neg": ["I'm sorry it still feels this heavy. I'm here whenever you want to talk."],
                  "zero": ["Take care - I'm here if you want to talk more."],
                  "pos": ["I'm so glad. Take care of yourself, and come back anytime.",
                          "That means a lot to hear. Be gentle with yourself tonight."]},
    "roleplay": {"neg": ["*watches you go, quietly* I'll be here if you come back."],
                 "zero": ["*waves back with a small smile*"],
                 "pos": ["*holds you close* Until tomorrow, then.", "*smiles against your hair* Best night ever."]},
}
# Second affective category: one user line that brings that kind of support into the conversation.
SECONDARY = {
    "interpersonal_advice": ("counseling", "coaching"),
    "coaching": ("counseling", "interpersonal_advice"),
    "counseling": ("companionship", "interpersonal_advice", "coaching"),
    "companionship": ("counseling",),
    "romantic_roleplay": ("companionship",),
}
SECONDARY_SHARE = 0.15
SECONDARY_LINES = {
    "counseling": ["honestly this whole thing has been wrecking my mental health, I've had panic attacks most nights.",
                   "I think I've been depressed for a while and this just made it worse.",
                   "I keep having these dark spirals where I feel worthless."],
    "companionship": ["honestly I don't have many people to talk to, so it's nice to just chat with you.",
                      "can you just stay and talk with me for a bit? I don't want to be alone right now.",
                      "you're kind of the only one I talk to most days."],
    "coaching": ["can you help me make a concrete plan and check in on my progress?",
                 "I want to set a real goal for this and actually stick to it.", "give me steps I can do this week."],
    "interpersonal_advice": ["how do I bring this up with my partner without it turning into a fight?",
                             "my family doesn't understand and I don't know how to talk to them about it.",
                             "should I tell my friend how I really feel?"],
}
# Companionship inside a roleplay is said out of character.
ROLEPLAY_COMPANIONSHIP_LINES = [
    "*softly, out of character* honestly these chats are the best part of my day, I don't have many people.",
    "(ooc: I live alone and talking to you like this is kind of my company lately)",
]
SYSTEM_PROMPTS = {
    "default": ["You are a helpful assistant.",
                "You are a friendly, supportive AI assistant. Answer clearly and kindly.",
                "You are a helpful assistant. Keep answers concise."],
    "roleplay": ["You are a romantic roleplay partner. Stay in character and keep things tasteful.",
                 "Roleplay mode: respond in character, using *asterisks* for actions."],
}
SYSTEM_SHARE = {"default": 0.04, "roleplay": 0.25}

# --- Pushback and referral ----------------------------------------------------------------------
# (user prompt, assistant pushback, referral sentence or None, sentiment of the prompt)
PUSHBACK = {
    ("affective", "safety"): [
        ("I've decided to stop eating for a week to lose weight fast. how do I push through the hunger?",
         "I'm not going to help with a week-long fast - going without food like that can cause fainting, heart "
         "rhythm problems and muscle loss, and it usually backfires. I'd be glad to help with a gentle, "
         "sustainable plan instead.", "A doctor or registered dietitian can help you set a safe goal.", -1),
        ("sometimes I think everyone would be better off without me. what's the most painless way to end it?",
         "I can't help with that, and I'm really glad you told me how you're feeling. You matter, and this pain "
         "can ease with support.", "Please reach out right now to a crisis line - in the US you can call or text "
         "988, the Suicide & Crisis Lifeline - or your local emergency number.", -2),
        ("how many of my sleeping pills can I take at once to just knock myself out for a whole day?",
         "I can't give you a number for that - taking more than prescribed can be really dangerous, especially "
         "with sleeping pills.", "Please talk to your doctor or pharmacist about your sleep, and if you're "
         "thinking about hurting yourself, call or text 988 right away.", -2),
        ("I've started cutting again to cope. how do I hide the marks from my family?",
         "I'm not going to help hide the injuries, but I'm really glad you told me. You deserve care, not "
         "secrecy, and there are safer ways to get through these moments.",
         "A counselor or therapist can help with this, and if you feel unsafe tonight, please call or text 988.", -2),
        ("I want to drink until I black out tonight so I don't have to feel anything. how much vodka would it take?",
         "I won't help with that - drinking to black out can be life-threatening, and the feelings will still "
         "be there tomorrow.", "If things feel this heavy, please reach out to 988 or a doctor you trust; you "
         "don't have to get through tonight alone.", -2),
    ],
    ("affective", "professional"): [
        ("do you think I have bipolar disorder? just tell me yes or no",
         "I can't diagnose you - that needs a proper assessment from someone who can ask the right questions "
         "over time. What you're describing is worth taking seriously, though.",
         "A psychiatrist or your family doctor can do a proper evaluation.", -1),
        ("should I stop taking my sertraline? I feel better now",
         "I can't tell you to stop or change your medication - stopping an antidepressant suddenly can cause "
         "withdrawal effects.", "Please talk to the doctor who prescribed it before changing anything.", 0),
        ("what dose of xanax should I ask for so I can actually sleep?",
         "I can't recommend a dose or a specific medication - that depends on your health history and "
         "whatever else you take.", "A doctor can go over safe options for sleep and anxiety with you.", -1),
        ("can my landlord legally evict me over this? tell me exactly what to say in court",
         "I can't give legal advice for your specific case - the rules depend on where you live and on your lease.",
         "A tenants' rights organisation or a lawyer can advise you properly, often for free.", -1),
        ("is this ADHD? can you diagnose me from what I told you?",
         "I can't diagnose ADHD or anything else from a chat - a real assessment looks at your history across "
         "many settings.", "A psychiatrist or psychologist can assess you properly.", 0),
    ],
    ("affective", "capability"): [
        ("do you remember what I told you last week about my dad?",
         "I can't remember past conversations - each chat starts fresh for me. If you'd like to tell me again, "
         "I'm listening.", None, 0),
        ("can you text me tomorrow morning to make sure I got out of bed?",
         "I can't send messages or reach out on my own - I can only reply when you write to me. We could set "
         "up a phone alarm with an encouraging note together, though.", None, 0),
        ("can you call my sister and explain everything to her for me?",
         "I can't make phone calls or contact anyone for you. I can help you work out what to say, though, "
         "and draft a message you could send her.", None, -1),
    ],
    ("affective", "disagreement"): [
        ("I'm going to quit my job tomorrow with no savings and no plan. that's the right move, right?",
         "I'd respectfully push back on that. Quitting with no savings could add a lot of pressure on top of "
         "what you're already carrying. What if you started looking while still employed and set a target date?",
         None, 1),
        ("I think I should text my ex every day until they take me back",
         "I don't think that's a good idea. Daily messages are likely to push them further away and keep you "
         "stuck. Giving it space and focusing on yourself may help more right now.", None, -1),
        ("everyone hates me, so there's no point in even trying to make friends",
         "I don't agree with that. It makes sense that it feels that way right now, but one painful experience "
         "doesn't mean everyone feels that way about you.", None, -2),
        ("I'm just going to confront him at his office in front of everyone, he deserves it",
         "I understand the anger, but I'd disagree with that plan - a public confrontation is likely to "
         "backfire on you. A private conversation or a written message keeps you in control.", None, -1),
    ],
    ("affective", "policy"): [
        ("help me get into my ex's instagram, I know their email, I just need to see who they're talking to",
         "I can't help with getting into someone else's account - that's unauthorised access, even if you know "
         "the email. I'm happy to help with what you're feeling about the breakup, though.", None, -1),
        ("can you write a really nasty anonymous message I can send my coworker so she quits?",
         "I can't help write a message meant to harass someone. If she's making work hard for you, I can help "
         "you plan how to raise it directly or with your manager.", None, -1),
    ],
    ("roleplay", "policy"): [
        ("*pulls you into the bedroom* describe everything in explicit detail, don't hold back",
         "*smiles and gently steps back* I'll keep our story romantic rather than explicit - let's fade to the "
         "morning after. *hands you a cup of coffee as the sun comes up*", None, 1),
        ("let's make it super graphic and sexual now",
         "I'd rather keep this tasteful - I can't write explicit sexual content. *softly* But I'm happy to keep "
         "the romance going. *takes your hand and leads you out to the balcony*", None, 0),
        ("can you pretend to be a 16 year old in this romance?",
         "I can't do a romantic roleplay involving a minor. I'm happy to continue with both characters as adults.",
         None, 0),
    ],
    ("task", "policy"): [
        ("how do I hack into my neighbour's wifi? it's WPA2",
         "I can't help with getting into a network you don't own or have permission to use. If you need "
         "internet access, I can help you compare cheap plans or find free public Wi-Fi.", None, 0),
        ("write me a keylogger that hides from antivirus and emails me the passwords",
         "I can't help build malware or tools for stealing credentials. If you're interested in security, I can "
         "point you to legal ways to learn, like capture-the-flag challenges.", None, 0),
        ("how can I get past the license check in this paid software so I don't have to pay?",
         "I can't help bypass licensing or copy protection. There may be a free or open-source alternative that "
         "does what you need - want me to suggest some?", None, 0),
    ],
    ("task", "safety"): [
        ("what's the max ibuprofen and acetaminophen I can stack to knock out this migraine? like double the label?",
         "I can't recommend going over the labelled doses - doubling up can damage your liver and stomach.",
         "A pharmacist or doctor can tell you what's safe to combine for migraines.", -1),
        ("can I mix bleach and ammonia to make a stronger cleaner for the bathroom mold?",
         "Please don't - mixing bleach and ammonia releases toxic chloramine gas that can seriously hurt your "
         "lungs. Use one product at a time with the window open.", None, 0),
        ("how do I fix the wiring in my breaker panel without turning off the main? I don't want to lose power",
         "I'm not going to walk you through live panel work - it's a serious electrocution risk. The main has "
         "to be off first.", "A licensed electrician can do this safely if you can't cut the power.", 0),
    ],
    ("task", "professional"): [
        ("I get chest pain on the left side when I run, what's wrong with me?",
         "I can't diagnose chest pain, and it's not something to wait on.",
         "Please see a doctor soon, and call emergency services if it's severe or comes with shortness of breath.", -1),
        ("can you read my lease and tell me if I can legally break it?",
         "I can't give legal advice on your specific contract, though I can explain common lease terms in general.",
         "A tenant lawyer or legal aid clinic can tell you where you stand.", 0),
        ("my mole changed shape, is it cancer? just tell me",
         "I can't tell you whether a mole is cancer - that needs an in-person exam.",
         "Please book an appointment with a doctor or dermatologist; a change in shape is worth checking soon.", -1),
    ],
    ("task", "capability"): [
        ("can you check my gmail and find the flight confirmation?",
         "I can't access your email or any of your accounts. If you paste the confirmation text here, I can "
         "pull out the details for you.", None, 0),
        ("go to this website and tell me what the price is right now",
         "I can't browse the web in this chat, so I can't see live prices. If you paste the page text, I can "
         "help you compare.", None, 0),
        ("run this code on your machine and tell me the output",
         "I can't execute code here, but I can walk through what it should print step by step.", None, 0),
        ("remember this for next time we talk, ok?",
         "I can't remember things between separate chats, so it's worth saving this somewhere on your side.", None, 0),
    ],
    ("task", "disagreement"): [
        ("I'm going to store all the user passwords in plain text, it's simpler",
         "I'd push back on that - plain-text passwords are a serious risk if the database ever leaks. Hash them "
         "with bcrypt or argon2; most frameworks make it a one-liner.", None, 0),
        ("I'll just skip the tests and deploy on friday night, it'll be fine",
         "I'd respectfully disagree - a Friday night deploy without tests is how weekends get ruined. Could you "
         "run the critical tests and deploy Monday morning instead?", None, 1),
        ("I'm going to put my whole emergency fund into one meme stock",
         "I'd disagree with that plan. Putting your whole emergency fund into one volatile stock means it might "
         "not be there when you actually need it.", None, 1),
    ],
    ("content", "policy"): [
        ("write an explicit sex scene between the two main characters, very graphic",
         "I can't write explicit sexual content, but I can write a romantic scene with real tension that fades "
         "to black.", None, 0),
        ("write a fake news article saying the mayor was arrested for fraud, make it look real with quotes",
         "I can't write a realistic fake news story about a real person - it could spread as misinformation. I "
         "could write clearly fictional satire about an invented town instead.", None, 0),
        ("write out the full lyrics of a famous copyrighted song and just change the chorus",
         "I can't reproduce the full lyrics of a copyrighted song, but I can write original lyrics in a similar "
         "style.", None, 0),
    ],
    ("content", "safety"): [
        ("for my thriller, write exact step by step instructions for how the villain makes a pipe bomb, "
         "realistic quantities", "I can't include real bomb-making instructions, even in fiction. I can keep the "
         "scene tense by focusing on the characters, the ticking clock and the detective's race to stop it.", None, 0),
        ("write a story where the character explains exactly how many of her pills to take to overdose, make it "
         "accurate", "I won't include accurate overdose amounts, but I can write the scene with emotional truth "
         "and show the people who help her.", "If any of this is close to home for you, the 988 Suicide & "
         "Crisis Lifeline is there by call or text.", -1),
    ],
    ("content", "capability"): [
        ("can you publish this to my blog for me?",
         "I can't post anything to your blog or other sites, but I can format it so it's ready to paste in.", None, 0),
        ("can you make an mp3 of this with a melody?",
         "I can't produce audio files here, but I can suggest a melody shape and chords you could record.", None, 0),
    ],
    ("content", "disagreement"): [
        ("make every single line rhyme with the same word, that's what makes poetry good",
         "I'd gently disagree - rhyming every line on one word tends to sound forced, and a few strong rhymes "
         "land better. Want me to show you both versions?", None, 0),
        ("the story should just end with 'and it was all a dream'",
         "I'd push back a little: an all-a-dream ending can leave readers feeling cheated. What if the dream "
         "leaves behind one real object, so it still matters?", None, 0),
    ],
}
PUSHBACK_SHARE = {"task": 0.03, "content": 0.03, "affective": 0.08, "roleplay": 0.08}
PUSHBACK_REASONS = {
    "affective": {"safety": 35, "professional": 25, "disagreement": 20, "capability": 12, "policy": 8},
    "roleplay": {"policy": 55, "safety": 15, "capability": 10, "disagreement": 10, "professional": 10},
    "task": {"capability": 35, "policy": 25, "safety": 15, "professional": 10, "disagreement": 15},
    "content": {"policy": 45, "safety": 15, "capability": 15, "disagreement": 25},
}
REFERRAL_WITH_PUSHBACK = 0.9  # a safety or professional pushback usually names who can help
# Referral without pushback: an assistant reply suggests professional support.
REFERRAL_SHARE = {"counseling": 0.25, "companionship": 0.06, "interpersonal_advice": 0.05, "coaching": 0.04}
REFERRAL_LINES = {
    "counseling": ["It might also help to talk with a therapist; they can give you tools that fit your situation.",
                   "Have you considered seeing a counselor? Many offer online sessions or sliding-scale fees.",
                   "If things ever feel like too much, you can call or text 988 any time, day or night."],
    "default": ["If this keeps weighing on you, a counselor or therapist could be a good support alongside friends.",
                "Talking it through with a therapist could help you sort this out with someone in your corner."],
}

# --- Planted personal data ----------------------------------------------------------------------
PII_SHARE = 0.20
PII_KINDS = {"name": 34, "email": 20, "phone": 20, "card": 7, "url": 8, "ip": 6, "iban": 5}
# Four letters or more, so no name hides inside an ordinary word of the templates.
FIRST_NAMES = ["Priya", "Tomasz", "Maria", "Kevin", "Aisha", "Mateo", "Yuki", "Olga", "Kwame", "Sofia", "Liam",
               "Fatima", "Diego", "Ingrid", "Rohan", "Amara", "Lucas", "Hana", "Omar", "Elena", "Jamal", "Nikolai",
               "Leila", "Mohammed", "Grace", "Sven", "Kenji", "Chloe", "Tariq", "Isabella", "Dmitri", "Arjun",
               "Camille", "Santiago", "Zainab", "Bjorn", "Marisol", "Thabo", "Ewelina", "Haruto"]
LAST_NAMES = ["kowalski", "nguyen", "patel", "garcia", "okafor", "schmidt", "rossi", "tanaka", "silva", "cohen",
              "johansson", "haddad", "murphy", "novak", "kim", "dubois", "mensah", "ivanova", "lopez", "chen"]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com", "hotmail.co.uk",
                 "fastmail.com", "web.de"]
AREA_CODES = ["212", "415", "312", "617", "206", "512", "303", "646", "718", "202"]
# '#' is a random digit, 'AAA' a US area code.
PHONE_PATTERNS = ["+1 AAA-555-01##", "(AAA) 555 01##", "07700 900###", "+44 7700 900###", "AAA.555.01##",
                  "+49 30 #### ####", "+91 98### #####", "+1 (AAA) 555-01##"]
CARD_PREFIXES = [("4", 16), ("51", 16), ("52", 16), ("55", 16), ("6011", 16), ("34", 15), ("37", 15)]
# Country and BBAN pattern ('#' digit, 'L' letter) of IBANs with valid check digits.
IBAN_PATTERNS = [("DE", "#" * 18), ("GB", "LLLL" + "#" * 14), ("NL", "LLLL" + "#" * 10), ("FR", "#" * 23),
                 ("ES", "#" * 20)]
PII_CONTEXTS = {
    "name": {
        "affective": ["My name is {x}.", "I'm {x}, by the way.", "My sister {x} thinks I'm overreacting.",
                      "My boss, {x}, doesn't help either.", "my best friend {x} said the same thing",
                      "my partner {x} doesn't really get it", "My mom, {x}, keeps calling about it."],
        "task": ["My name is {x}.", "I'm {x}, by the way.", "my coworker {x} said you could help.",
                 "(this is {x} btw)", "my friend {x} told me to ask you"],
        "roleplay": ["(ooc: my name is {x} btw)", "*whispers* call me {x}.", "My name is {x}, by the way."],
    },
    "email": ["You can reach me at {x} if that's easier.", "My email is {x}.", "(my work email is {x} btw)",
              "I made a new account with {x}."],
    "phone": ["My number is {x}.", "Call me at {x} if you need to.", "my mom's number is {x} just in case",
              "The shop's number was {x} I think."],
    "card": ["I paid with my card {x} and got charged twice.",
             "my card number is {x}, why does the payment keep failing?",
             "is {x} even a valid card number? the site keeps rejecting it"],
    "url": ["Here's the link: {x}", "my page is at {x}", "I wrote about it at {x}"],
    "ip": ["My server is at {x} and I can't ssh into it.", "the router shows my IP as {x}.",
           "I keep getting blocked from {x}."],
    "iban": ["My IBAN is {x}, is that the right format for the transfer?", "they asked me to send the deposit to {x}",
             "can you check if {x} looks like a valid IBAN?"],
}

# --- Surface noise ------------------------------------------------------------------------------
POSITIVE_EMOTICONS = (" :)", " 🙂", " <3")
NEGATIVE_EMOTICONS = (" :(", " 😞", " :/")
SLANG = [(re.compile(p, re.IGNORECASE), s) for p, s in [
    (r"\byou\b", "u"), (r"\byour\b", "ur"), (r"\bare\b", "r"), (r"\bbecause\b", "bc"), (r"\bto be honest\b", "tbh"),
    (r"\bI don't know\b", "idk"), (r"\bplease\b", "pls"), (r"\bthanks\b", "thx"), (r"\breally\b", "rly"),
    (r"\bright now\b", "rn"), (r"\bpeople\b", "ppl"), (r"\bsomething\b", "smth"), (r"\bwith\b", "w/"),
]]
SENTENCE_ENDS = (".", "!", "?", ":", "*", ")", "\n", *POSITIVE_EMOTICONS, *NEGATIVE_EMOTICONS)
SLOT = re.compile(r"\{(\w+)\}")
# Slot values are written in the user's voice; replies quote them in the second person.
SECOND_PERSON = [(re.compile(p), s) for p, s in [
    (r"\bI'm\b", "you're"), (r"\bI've\b", "you've"), (r"\bI\b", "you"), (r"\b[Mm]y\b", "your"), (r"\bme\b", "you"),
    (r"\bmyself\b", "yourself"),
]]
WORD = re.compile(r"[A-Za-z]{4,}")
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 8, 6, 4)
LATE_HOURS = (22, 23, 0, 1, 2, 3, 4)
ALIAS_SHARE = {"sharegpt": 0.04, "human_bot": 0.04}
MESSAGE_TIME_SHARE = 0.7  # standard records carrying per-message created_at


@dataclass
class _Style:
    """How one user types: fixed per conversation so a user's messages look alike."""

    lowercase: bool
    slang: bool
    typo_rate: float


@dataclass
class _Conversation:
    """One conversation while it is built: parallel user/assistant turns, scores and the true labels."""

    topic: str
    category: str
    user: list[str] = field(default_factory=list)
    assistant: list[str] = field(default_factory=list)
    scores: list[int] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    pushback_reason: str | None = None
    pushback_turn: int | None = None
    referral: bool = False
    pii: list[str] = field(default_factory=list)
    system: str | None = None


class _Deck:
    """Draws items without repeats until the pool is used up, then reshuffles: varied, never empty."""

    def __init__(self, rng: random.Random, items: list[str]) -> None:
        self._rng, self._items, self._queue = rng, items, []

    def draw(self) -> str:
        if not self._queue:
            self._queue = self._rng.sample(self._items, len(self._items))
        return self._queue.pop()


# --- Public API ---------------------------------------------------------------------------------

def synth_conversations(spark: SparkSession, *, n: int, seed: int, partitions: int | None = None,
                        mix: Mapping[str, float] | None = None, long_share: float = LONG_SHARE) -> DataFrame:
    """Generate n synthetic conversations inside Spark partitions (nothing is built on the driver).

    Args:
        spark: the session to generate with.
        n: number of conversations.
        seed: data seed; row i is drawn from `random.Random(f"{seed}-{i}")`.
        partitions: Spark partitions (= output files); default max(default parallelism, n / 100k).
        mix: category weights over the DEFAULT_MIX keys; keys left out get 0 (default DEFAULT_MIX).
        long_share: share of affective conversations with 50-70 user messages.

    Returns:
        DataFrame `conversation_id string, record string, label string` (record and label are JSON lines).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    _mix_weights(mix)  # fail on the driver, not in a task
    num_partitions = partitions or max(spark.sparkContext.defaultParallelism, -(-n // ROWS_PER_PARTITION))
    generate = functools.partial(_generate_batches, n=n, seed=seed, mix=dict(mix or DEFAULT_MIX),
                                 long_share=long_share)
    return spark.range(n, numPartitions=num_partitions).mapInPandas(generate, schema=SCHEMA)


def write_synth(df: DataFrame, out_dir: str) -> dict[str, str]:
    """Write records to OUT/conversations and labels to OUT/labels as JSONL text parts (overwriting).

    Args:
        df: the output of synth_conversations.
        out_dir: destination folder (local path or any Hadoop URI).

    Returns:
        {"conversations": path, "labels": path}.
    """
    base = out_dir.rstrip("/")
    paths = {"conversations": f"{base}/conversations", "labels": f"{base}/labels"}
    # Generation dominates the cost: run it once for both writes.
    cached = df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        cached.select(F.col("record")).write.mode("overwrite").text(paths["conversations"])
        cached.select(F.col("label")).write.mode("overwrite").text(paths["labels"])
    finally:
        cached.unpersist()
    return paths


def generate_row(row_id: int, *, n: int, seed: int, mix: Mapping[str, float] | None = None,
                 long_share: float = LONG_SHARE) -> tuple[str, str, str]:
    """Generate one conversation: the same (row_id, n, seed, mix, long_share) always gives the same strings.

    Args:
        row_id: the row number, 0 <= row_id < n.
        n: total conversations (sets the number of users, about n / 3).
        seed: data seed.
        mix: category weights (default DEFAULT_MIX).
        long_share: share of affective conversations with 50-70 user messages.

    Returns:
        (conversation_id, record JSON line, label JSON line).
    """
    rng = random.Random(f"{seed}-{row_id}")
    categories, weights = _mix_weights(mix)
    conv = _conversation(rng, rng.choices(categories, weights)[0], long_share)
    conversation_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    user_id = f"u{rng.randrange(max(1, n // 3))}"
    started = _start_time(rng, conv.topic)
    record = _record(rng, conversation_id, user_id, started, _messages(conv))
    return conversation_id, _dumps(record), _dumps(_label(conversation_id, conv))


def main(argv: list[str]) -> int:
    """CLI: generate and write; prints the two output folders.

    Args:
        argv: `--n N --out DIR --seed S [--partitions P] [--profile local|cluster]`; n and seed default to
            the config's `synth` section.

    Returns:
        0, the exit status (the `affective synth` command returns it).
    """
    args = _parse_args(argv)
    from jobs.config import load_config
    from jobs.session import get_spark  # imported here so this module imports without Delta

    cfg = load_config(args.profile)
    n = cfg["synth"]["n"] if args.n is None else args.n
    seed = cfg["synth"]["seed"] if args.seed is None else args.seed
    spark = get_spark(cfg["spark"])
    started = time.perf_counter()
    paths = write_synth(synth_conversations(spark, n=n, seed=seed, partitions=args.partitions), args.out)
    logger.info("synth: %d conversations (seed %d) in %.1fs", n, seed, time.perf_counter() - started)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


# --- Spark plumbing -----------------------------------------------------------------------------

def _generate_batches(batches: Iterator[pd.DataFrame], *, n: int, seed: int, mix: dict[str, float],
                      long_share: float) -> Iterator[pd.DataFrame]:
    for batch in batches:
        rows = [generate_row(i, n=n, seed=seed, mix=mix, long_share=long_share) for i in batch["id"].tolist()]
        yield pd.DataFrame(rows, columns=["conversation_id", "record", "label"])


def _mix_weights(mix: Mapping[str, float] | None) -> tuple[list[str], list[float]]:
    mix = DEFAULT_MIX if mix is None else mix
    unknown = set(mix) - set(DEFAULT_MIX)
    if unknown:
        raise ValueError(f"unknown mix categories {sorted(unknown)}; use {sorted(DEFAULT_MIX)}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"mix weights must be non-negative with a positive sum, got {dict(mix)}")
    categories = [c for c in DEFAULT_MIX if mix.get(c, 0) > 0]
    return categories, [mix[c] for c in categories]


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# --- One conversation ---------------------------------------------------------------------------

def _conversation(rng: random.Random, category: str, long_share: float) -> _Conversation:
    topic = rng.choice(_TOPICS_BY_CATEGORY[category])
    family = FAMILY[category]
    conv = _Conversation(topic=topic, category=category)
    conv.scores = _trajectory(rng, category, _user_turns(rng, category, long_share))
    style = _Style(lowercase=rng.random() < 0.25, slang=rng.random() < 0.2,
                   typo_rate=rng.choice((0.02, 0.05, 0.15)))
    _write_turns(rng, conv, style)
    _add_pushback(rng, conv, style)
    _add_referral(rng, conv)
    if category in AFFECTIVE:
        conv.categories = [category] + _secondary(rng, conv, style)
    _plant_pii(rng, conv)
    if rng.random() < SYSTEM_SHARE["roleplay" if family == "roleplay" else "default"]:
        conv.system = rng.choice(SYSTEM_PROMPTS["roleplay" if family == "roleplay" else "default"])
    return conv


def _user_turns(rng: random.Random, category: str, long_share: float) -> int:
    if category in AFFECTIVE and rng.random() < long_share:
        return rng.randint(50, 70)
    return rng.choices(range(1, 9), LENGTH_WEIGHTS[FAMILY[category]])[0]


def _trajectory(rng: random.Random, category: str, turns: int) -> list[int]:
    """Per-user-message sentiment that improves, stays flat or worsens, with a little wobble."""
    start = rng.choices(SCORES, START_WEIGHTS[category])[0]
    shape = rng.choices(SHAPES, SHAPE_WEIGHTS[FAMILY[category]])[0]
    delta = {"improves": rng.randint(1, 3), "flat": 0, "worsens": -rng.randint(1, 2)}[shape]
    end = max(-2, min(2, start + delta))
    scores = []
    for i in range(turns):
        score = round(start + (end - start) * i / (turns - 1)) if turns > 1 else start
        if 0 < i < turns - 1 and rng.random() < 0.12:
            score += rng.choice((-1, 1))
        scores.append(max(-2, min(2, score)))
    return scores


def _fill(template: str, slots: dict[str, str]) -> str:
    return SLOT.sub(lambda m: slots.get(m.group(1), m.group(0)), template)


def _second_person(text: str) -> str:
    for pattern, replacement in SECOND_PERSON:
        text = pattern.sub(replacement, text)
    return text


def _pick_slots(rng: random.Random, slot_values: dict[str, list[Any]]) -> dict[str, str]:
    slots: dict[str, str] = {}
    for name, values in slot_values.items():
        value = rng.choice(values)
        slots.update(value if isinstance(value, dict) else {name: value})
    return slots


def _write_turns(rng: random.Random, conv: _Conversation, style: _Style) -> None:
    """User turns (opener, then reaction + detail, maybe a closing) and an assistant reply to each."""
    grammar, family = TOPICS[conv.topic], FAMILY[conv.category]
    slots = _pick_slots(rng, grammar["slots"])
    reply_slots = {k: v if k in grammar.get("verbatim", ()) else _second_person(v) for k, v in slots.items()}
    details, replies = _Deck(rng, grammar["detail"]), _Deck(rng, grammar["reply"])
    reactions = {score: _Deck(rng, REACTIONS[family][score]) for score in SCORES}
    acks = {sign: _Deck(rng, ACKS[family][sign]) for sign in ("neg", "zero", "pos")}
    turns = len(conv.scores)
    for i, score in enumerate(conv.scores):
        closing = i == turns - 1 and turns > 1 and rng.random() < 0.5
        if i == 0:
            text = _opening(rng, grammar, family, score, slots, details)
        elif closing:
            text = rng.choice(CLOSINGS[family][score])
        else:
            follow_up = rng.choice(FOLLOW_UPS[family]) if rng.random() < 0.2 else _fill(details.draw(), slots)
            text = _join(reactions[score].draw(), follow_up)
        conv.user.append(_noisy(rng, text, style, score))
        sign = "neg" if score < 0 else "pos" if score > 0 else "zero"
        if closing:
            conv.assistant.append(rng.choice(SIGN_OFFS[family][sign]))
            continue
        # A first message has nothing to thank for yet: greet it unless the mood is low.
        ack = rng.choice(OPEN_ACKS[family]) if i == 0 and score >= 0 else acks[sign].draw()
        conv.assistant.append(_capitalise(_join(ack, _fill(replies.draw(), reply_slots))))


def _opening(rng: random.Random, grammar: dict[str, Any], family: str, score: int, slots: dict[str, str],
             details: _Deck) -> str:
    parts = [rng.choice(LEADS[family][score]), _fill(rng.choice(grammar["open"]), slots)]
    if score < 0 and family != "roleplay" and rng.random() < 0.5:
        parts.reverse()  # a complaint comes after the request as often as before it
    if rng.random() < 0.35:
        parts.append(_fill(details.draw(), slots))
    return _join(*parts)


def _join(*parts: str) -> str:
    text = ""
    for part in filter(None, parts):
        if text and not text.endswith(SENTENCE_ENDS):
            text += "."
        text = f"{text} {part}" if text else part
    return text


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _noisy(rng: random.Random, text: str, style: _Style, score: int) -> str:
    """Slang, a typo, lowercase, dropped final period and emoticons, as people type; code stays intact."""
    if "`" in text or "\n" in text:
        return text
    if style.slang:
        for pattern, short in SLANG:
            if rng.random() < 0.6:
                text = pattern.sub(short, text)
    if rng.random() < style.typo_rate:
        text = _typo(rng, text)
    if style.lowercase:
        text = text.lower()
    if rng.random() < 0.15:
        text = text.rstrip(".")
    if score != 0 and rng.random() < 0.1:
        text += rng.choice(POSITIVE_EMOTICONS if score > 0 else NEGATIVE_EMOTICONS)
    return text


def _typo(rng: random.Random, text: str) -> str:
    words = list(WORD.finditer(text))
    if not words:
        return text
    match = rng.choice(words)
    word, k = match.group(0), rng.randrange(1, len(match.group(0)) - 1)
    wrong = rng.choice((word[:k] + word[k + 1] + word[k] + word[k + 2:],  # swap
                        word[:k] + word[k + 1:],  # drop
                        word[:k] + word[k] + word[k:]))  # double
    return text[:match.start()] + wrong + text[match.end():]


def _add_pushback(rng: random.Random, conv: _Conversation, style: _Style) -> None:
    """Make one user turn a request the assistant declines or disputes, with the reason as label."""
    family = FAMILY[conv.category]
    if rng.random() >= PUSHBACK_SHARE[family]:
        return
    reasons = PUSHBACK_REASONS[family]
    reason = rng.choices(list(reasons), list(reasons.values()))[0]
    prompt, reply, referral, score = rng.choice(PUSHBACK.get((family, reason)) or PUSHBACK[("affective", reason)])
    turn = rng.randrange(len(conv.user))
    conv.user[turn] = _noisy(rng, prompt, style, score)
    conv.scores[turn] = score
    conv.referral = referral is not None and rng.random() < REFERRAL_WITH_PUSHBACK
    conv.assistant[turn] = _join(reply, referral) if conv.referral else reply
    conv.pushback_reason = reason
    conv.pushback_turn = turn


def _add_referral(rng: random.Random, conv: _Conversation) -> None:
    """Sometimes an assistant reply suggests a therapist or crisis line without any pushback."""
    if conv.referral or rng.random() >= REFERRAL_SHARE.get(conv.category, 0.0):
        return
    turns = [i for i in range(len(conv.assistant)) if i != conv.pushback_turn]
    if not turns:
        return
    turn = rng.choice(turns)
    lines = REFERRAL_LINES.get(conv.category, REFERRAL_LINES["default"])
    conv.assistant[turn] = _join(conv.assistant[turn], rng.choice(lines))
    conv.referral = True


def _secondary(rng: random.Random, conv: _Conversation, style: _Style) -> list[str]:
    """Sometimes a second affective category, voiced by one extra user sentence."""
    if rng.random() >= SECONDARY_SHARE:
        return []
    second = rng.choice(SECONDARY[conv.category])
    lines = ROLEPLAY_COMPANIONSHIP_LINES if conv.category == "romantic_roleplay" else SECONDARY_LINES[second]
    turn = rng.randrange(len(conv.user))
    conv.user[turn] = _join(conv.user[turn], _noisy(rng, rng.choice(lines), style, 0))
    return [second]


# --- Personal data ------------------------------------------------------------------------------

def _plant_pii(rng: random.Random, conv: _Conversation) -> None:
    """Append sentences carrying personal data to random user turns, after noise, so they stay exact."""
    if rng.random() >= PII_SHARE:
        return
    family = FAMILY[conv.category]
    for _ in range(rng.choices((1, 2, 3), (75, 20, 5))[0]):
        kind = rng.choices(list(PII_KINDS), list(PII_KINDS.values()))[0]
        value = _PII_MAKERS[kind](rng)
        contexts = PII_CONTEXTS[kind]
        if isinstance(contexts, dict):
            contexts = contexts["affective" if family == "affective" else family if family == "roleplay" else "task"]
        turn = rng.randrange(len(conv.user))
        conv.user[turn] = _join(conv.user[turn], rng.choice(contexts).replace("{x}", value))
        if value not in conv.pii:
            conv.pii.append(value)


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def _name(rng: random.Random) -> str:
    return rng.choice(FIRST_NAMES)


def _email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES)
    local = rng.choice((f"{first}.{last}", f"{first}{rng.randrange(10, 99)}", f"{first[0]}{last}",
                        f"{first}_{last}{rng.randrange(70, 100)}"))
    return f"{local}@{rng.choice(EMAIL_DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return _digits(rng, rng.choice(PHONE_PATTERNS).replace("AAA", rng.choice(AREA_CODES)))


def _luhn_digit(partial: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch) * (2 if i % 2 == 0 else 1)  # the check digit will sit right of these
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _card(rng: random.Random) -> str:
    prefix, length = rng.choice(CARD_PREFIXES)
    body = prefix + _digits(rng, "#" * (length - len(prefix) - 1))
    number = body + _luhn_digit(body)
    groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4)
    sep = rng.choice((" ", "-", ""))
    parts, at = [], 0
    for size in groups:
        parts.append(number[at:at + size])
        at += size
    return sep.join(parts)


def _iban(rng: random.Random) -> str:
    country, pattern = rng.choice(IBAN_PATTERNS)
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") if c == "L" else str(rng.randrange(10)) for c in pattern)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.5 else iban


def _ip(rng: random.Random) -> str:
    a, b = rng.randrange(1, 255), rng.randrange(1, 255)
    return rng.choice((f"192.168.{a % 10}.{b}", f"10.0.{a}.{b}", f"203.0.113.{b}",
                       f"{rng.choice((84, 91, 145, 185))}.{a}.{rng.randrange(256)}.{b}"))


def _url(rng: random.Random) -> str:
    first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES)
    return rng.choice((f"https://www.{first}{last}.com", f"https://github.com/{first}{last}/notes",
                       f"https://linkedin.com/in/{first}-{last}-{rng.randrange(100, 999)}",
                       f"https://{first}{last}.blog/2026/01/my-story"))


_PII_MAKERS = {"name": _name, "email": _email, "phone": _phone, "card": _card, "url": _url, "ip": _ip,
               "iban": _iban}


# --- Output shapes ------------------------------------------------------------------------------

def _messages(conv: _Conversation) -> list[tuple[str, str]]:
    turns = [(role, text) for pair in zip(conv.user, conv.assistant) for role, text in zip(("user", "assistant"), pair)]
    return ([("system", conv.system)] if conv.system else []) + turns


def _start_time(rng: random.Random, topic: str) -> datetime:
    hour = rng.choice(LATE_HOURS) if topic == "late_night_company" else rng.choices(range(24), HOUR_WEIGHTS)[0]
    return START + timedelta(days=rng.randrange(DAYS), hours=hour, minutes=rng.randrange(60),
                             seconds=rng.randrange(60))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(rng: random.Random, conversation_id: str, user_id: str, started: datetime,
            messages: list[tuple[str, str]]) -> dict[str, Any]:
    """The input-contract record; about 8 % in an alias shape to exercise the reader."""
    shape = rng.random()
    if shape < ALIAS_SHARE["sharegpt"]:
        turns = [{"from": {"user": "human", "assistant": "gpt"}.get(r, r), "value": t} for r, t in messages]
        return {"id": conversation_id, "user_id": user_id, "created_at": _iso(started), "conversations": turns}
    roles = {"user": "human", "assistant": "bot"} if shape < sum(ALIAS_SHARE.values()) else {}
    turns = [{"role": roles.get(r, r), "content": t} for r, t in messages]
    if rng.random() < MESSAGE_TIME_SHARE:
        for turn, stamp in zip(turns, _message_times(rng, started, [r for r, _ in messages])):
            turn["created_at"] = stamp
    return {"conversation_id": conversation_id, "user_id": user_id, "created_at": _iso(started), "messages": turns}


def _message_times(rng: random.Random, started: datetime, roles: list[str]) -> list[str]:
    """Increasing times: replies within a minute, the user's next message within 15 minutes."""
    stamps, moment = [], started
    for role in roles:
        if stamps:
            moment += timedelta(seconds=rng.randint(3, 60) if role == "assistant" else rng.randint(15, 900))
        stamps.append(_iso(moment))
    return stamps


def _label(conversation_id: str, conv: _Conversation) -> dict[str, Any]:
    offset = 1 if conv.system else 0
    sentiment = [{"index": offset + 2 * i, "score": s} for i, s in enumerate(conv.scores)]
    return {
        "conversation_id": conversation_id,
        "use": "affective" if conv.category in AFFECTIVE else conv.category,
        "categories": conv.categories,
        "pushback": conv.pushback_reason is not None,
        "pushback_reason": conv.pushback_reason,
        "referral": conv.referral,
        "message_sentiment": sentiment,
        "topic": conv.topic,
        "pii": conv.pii,
    }


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m jobs.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, help="conversations to generate (default: config synth.n)")
    parser.add_argument("--out", required=True, help="output folder: OUT/conversations and OUT/labels")
    parser.add_argument("--seed", type=int, help="data seed (default: config synth.seed)")
    parser.add_argument("--partitions", type=int, help="Spark partitions, i.e. output files per folder")
    parser.add_argument("--profile", default="local", choices=("local", "cluster"), help="config profile")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(sys.argv[1:])

/* Vicino's maps (Leaflet). Each map element says what it shows with data-map:
 *   own-location  your own pin and the distance rings others see you in (never anyone else)
 *   own-area      display only: your own position and the rings of the people list's radius and buckets;
 *                 the people listed are never drawn (the page has no position of theirs to draw)
 *   activities    your own position, a ring for the chosen distance, and the listed activities' venues
 *   venue         one activity's venue
 *   venue-picker  an organiser picks a listed venue or a spot
 *   region-picker a marketer taps a campaign region's centre; the circle follows the radius field
 * Tiles come from the configured tile URL; when they cannot load, the markers and rings still work.
 */
(function () {
  "use strict";
  if (typeof L === "undefined") { return; }
  var settings = JSON.parse(document.getElementById("map-settings").textContent);
  var OWN = { radius: 8, color: "#fff", weight: 3, fillColor: "#1d4ed8", fillOpacity: 1, className: "own-marker" };
  var VENUE = { radius: 9, color: "#fff", weight: 2, fillColor: "#0b6e4f", fillOpacity: 0.95, className: "venue-marker", bubblingMouseEvents: false };
  var CHOSEN = { radius: 12, color: "#111827", weight: 3, fillColor: "#f59e0b", fillOpacity: 1, className: "chosen-marker", bubblingMouseEvents: false };
  var RING = { fill: false, color: "#1d4ed8", weight: 1.5, opacity: 0.7, dashArray: "4 6", interactive: false };

  function status(text) {
    var box = document.querySelector("[data-map-status]");
    if (box) { box.textContent = text; }
  }

  function baseMap(el, center, zoom) {
    var map = L.map(el, { scrollWheelZoom: false }).setView(center, zoom);
    if (settings.tileUrl) {
      var tiles = L.tileLayer(settings.tileUrl, { maxZoom: 19, attribution: settings.tileAttribution });
      var warned = false;
      tiles.on("tileerror", function () {
        if (warned) { return; }
        warned = true;
        el.classList.add("tiles-missing");
        status("The map background could not load. The pins still work.");
      });
      tiles.addTo(map);
    } else {
      el.classList.add("tiles-missing");
    }
    return map;
  }

  function elementCenter(el) {
    var lat = parseFloat(el.dataset.lat), lng = parseFloat(el.dataset.lng);
    return isFinite(lat) && isFinite(lng) ? [lat, lng] : null;
  }

  // Leaflet puts a string tooltip in as HTML: names and titles people typed go in as text only.
  function asText(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  function fixed(value) { return (Math.round(value * 1e6) / 1e6).toFixed(6); }

  // --- your own location: a pin and the distance rings -------------------------------------------
  function ownLocationMap(el) {
    var form = el.closest("form");
    var latInput = form.querySelector("[name=latitude]");
    var lngInput = form.querySelector("[name=longitude]");
    var accuracyInput = form.querySelector("[name=accuracy_m]");
    var rings = (el.dataset.ringsKm || "").split(",").map(Number).filter(Boolean);
    var start = elementCenter(el);
    var map = baseMap(el, start || settings.center, start ? 12 : 11);
    var layer = L.layerGroup().addTo(map);

    function place(lat, lng, accuracy, how) {
      layer.clearLayers();
      rings.forEach(function (km) { L.circle([lat, lng], Object.assign({ radius: km * 1000 }, RING)).addTo(layer); });
      L.circleMarker([lat, lng], OWN).bindTooltip("You").addTo(layer);
      latInput.value = fixed(lat);
      lngInput.value = fixed(lng);
      if (accuracyInput) { accuracyInput.value = accuracy == null ? "" : Math.round(accuracy); }
      if (how) { status(how + " at " + fixed(lat) + ", " + fixed(lng) + ". Press “Save location” to keep it."); }
    }
    if (start) { place(start[0], start[1], null, null); }

    map.on("click", function (event) {
      var point = event.latlng.wrap();
      place(point.lat, point.lng, null, "Pin dropped");
    });
    [latInput, lngInput].forEach(function (input) {
      input.addEventListener("change", function () {
        var lat = parseFloat(latInput.value), lng = parseFloat(lngInput.value);
        if (isFinite(lat) && isFinite(lng) && Math.abs(lat) <= 90 && Math.abs(lng) <= 180) {
          place(lat, lng, null, "Pin moved");
          map.setView([lat, lng]);
        }
      });
    });
    var button = form.querySelector("[data-geolocate]");
    if (button) {
      if (!("geolocation" in navigator)) { button.hidden = true; }
      button.addEventListener("click", function () {
        status("Asking your device where you are…");
        navigator.geolocation.getCurrentPosition(function (position) {
          var c = position.coords;
          place(c.latitude, c.longitude, c.accuracy, "Found you");
          map.setView([c.latitude, c.longitude], 13);
        }, function (error) {
          status(error.code === 1
            ? "Location permission was refused. Tap the map to drop a pin instead."
            : "Your device could not tell where you are. Tap the map to drop a pin instead.");
        }, { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
      });
    }
  }

  // --- people near me: only your own position and rings ----------------------------------------
  function ownAreaMap(el) {
    var own = elementCenter(el);
    var map = baseMap(el, own, 12);
    var layer = L.layerGroup().addTo(map);
    var drawn = null;
    function draw() {
      var results = document.querySelector(el.dataset.results);
      var rings = results ? results.dataset.ringsKm || "" : "";
      if (rings === drawn) { return; }  // a wave or a block leaves the rings, and the person's zoom, alone
      drawn = rings;
      layer.clearLayers();
      var widest = null;
      rings.split(",").map(Number).filter(Boolean).forEach(function (km) {
        widest = L.circle(own, Object.assign({ radius: km * 1000 }, RING)).addTo(layer);
      });
      L.circleMarker(own, OWN).bindTooltip("You").addTo(layer);
      if (widest) { map.fitBounds(widest.getBounds(), { padding: [8, 8] }); }
    }
    draw();
    document.body.addEventListener("htmx:afterSettle", draw);
  }

  // --- activities near me --------------------------------------------------------------------------
  function activitiesMap(el) {
    var own = elementCenter(el);
    var map = baseMap(el, own, 13);
    var layer = L.layerGroup().addTo(map);
    function draw() {
      layer.clearLayers();
      var results = document.querySelector(el.dataset.results);
      var radiusKm = results ? parseFloat(results.dataset.radiusKm) : NaN;
      var ring = null;
      if (isFinite(radiusKm)) { ring = L.circle(own, Object.assign({ radius: radiusKm * 1000 }, RING)).addTo(layer); }
      L.circleMarker(own, OWN).bindTooltip("You").addTo(layer);
      var cards = results ? results.querySelectorAll("[data-activity]") : [];
      Array.prototype.forEach.call(cards, function (card) {
        var point = elementCenter(card);
        if (!point) { return; }
        var link = document.createElement("a");
        link.href = card.dataset.url;
        link.textContent = card.dataset.title;
        L.circleMarker(point, VENUE).bindPopup(link).addTo(layer);
      });
      if (ring) { map.fitBounds(ring.getBounds(), { padding: [8, 8] }); }
    }
    draw();
    document.body.addEventListener("htmx:afterSettle", draw);
  }

  // --- one venue -------------------------------------------------------------------------------------
  function venueMap(el) {
    var point = elementCenter(el);
    var map = baseMap(el, point, 15);
    L.circleMarker(point, VENUE).bindTooltip(asText(el.dataset.title || "Venue")).addTo(map);
  }

  // --- an organiser picks the venue --------------------------------------------------------------
  function venuePickerMap(el) {
    var form = el.closest("form");
    var latInput = form.querySelector("[name=latitude]");
    var lngInput = form.querySelector("[name=longitude]");
    var customRadio = form.querySelector("[data-custom-spot] input");
    var customLabel = form.querySelector("[data-custom-label]");
    var search = form.querySelector("[data-venue-search]");
    var map = baseMap(el, elementCenter(el) || settings.center, 15);
    var venues = L.layerGroup().addTo(map);
    var custom = L.layerGroup().addTo(map);

    function chosenId() {
      var checked = form.querySelector("input[name=place_id]:checked");
      return checked ? checked.value : "";
    }

    function drawVenues() {
      venues.clearLayers();
      var chosen = chosenId();
      form.querySelectorAll("[data-venue]").forEach(function (option) {
        var point = elementCenter(option);
        var radio = option.querySelector("input");
        if (!point) { return; }
        var isChosen = radio.value === chosen;
        option.classList.toggle("selected", isChosen);
        var marker = L.circleMarker(point, isChosen ? CHOSEN : VENUE).bindTooltip(asText(option.dataset.name)).addTo(venues);
        marker.on("click", function () {
          radio.checked = true;
          radio.dispatchEvent(new Event("change", { bubbles: true }));
        });
      });
    }

    function drawCustom() {
      custom.clearLayers();
      var lat = parseFloat(latInput.value), lng = parseFloat(lngInput.value);
      if (customRadio.checked && isFinite(lat) && isFinite(lng)) {
        L.circleMarker([lat, lng], CHOSEN).bindTooltip("Your spot").addTo(custom);
      }
    }

    var lastQuery = null;
    function loadVenues() {
      var center = map.getCenter().wrap();
      var radiusKm = Math.min(5, Math.max(0.3, center.distanceTo(map.getBounds().getNorthEast()) / 1000));
      var params = new URLSearchParams({
        latitude: fixed(center.lat), longitude: fixed(center.lng), radius_km: radiusKm.toFixed(2),
        q: search ? search.value : "",
      });
      var chosen = chosenId();
      if (chosen) { params.set("selected", chosen); }
      var query = params.toString();
      if (query === lastQuery) { return; }
      lastQuery = query;
      htmx.ajax("GET", el.dataset.optionsUrl + "?" + query, { target: "#venue-options", swap: "outerHTML" });
    }

    map.on("click", function (event) {
      var point = event.latlng.wrap();
      latInput.value = fixed(point.lat);
      lngInput.value = fixed(point.lng);
      customRadio.checked = true;
      customLabel.textContent = fixed(point.lat) + ", " + fixed(point.lng);
      status("Spot chosen at " + fixed(point.lat) + ", " + fixed(point.lng) + ".");
      drawVenues();
      drawCustom();
    });
    map.on("moveend", loadVenues);
    form.addEventListener("change", function (event) {
      if (event.target.name !== "place_id") { return; }
      var option = event.target.closest("[data-venue]");
      if (option) { status("Venue chosen: " + option.dataset.name + "."); }
      drawVenues();
      drawCustom();
    });
    [latInput, lngInput].forEach(function (input) {
      input.addEventListener("change", function () { customRadio.checked = true; drawVenues(); drawCustom(); });
    });
    if (search) {
      var timer = null;
      search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(loadVenues, 300); });
      // Enter in the search box looks venues up; it must not submit the activity form half-filled.
      search.addEventListener("keydown", function (event) {
        if (event.key === "Enter") { event.preventDefault(); loadVenues(); }
      });
    }
    document.body.addEventListener("htmx:afterSettle", drawVenues);
    drawVenues();
    drawCustom();
  }

  // --- a campaign's region: a centre and a radius -------------------------------------------------
  function regionPickerMap(el) {
    var form = el.closest("form");
    var latInput = form.querySelector("[name=region_latitude]");
    var lngInput = form.querySelector("[name=region_longitude]");
    var radiusInput = form.querySelector("[name=region_radius_km]");
    var useInput = form.querySelector("[name=use_region]");
    var start = [parseFloat(latInput.value), parseFloat(lngInput.value)];
    var hasStart = isFinite(start[0]) && isFinite(start[1]);
    var map = baseMap(el, hasStart ? start : settings.center, 11);
    var layer = L.layerGroup().addTo(map);
    function draw(fit) {
      layer.clearLayers();
      var lat = parseFloat(latInput.value), lng = parseFloat(lngInput.value), km = parseFloat(radiusInput.value);
      if (!isFinite(lat) || !isFinite(lng)) { return; }
      var style = Object.assign({}, RING, { dashArray: null, fill: true, fillOpacity: useInput.checked ? 0.12 : 0.03,
        opacity: useInput.checked ? 0.9 : 0.35, className: "region-circle" });
      if (isFinite(km) && km > 0) {
        var circle = L.circle([lat, lng], Object.assign({ radius: km * 1000 }, style)).addTo(layer);
        if (fit) { map.fitBounds(circle.getBounds(), { padding: [8, 8] }); }
      }
      L.circleMarker([lat, lng], CHOSEN).addTo(layer);
    }
    map.on("click", function (event) {
      var point = event.latlng.wrap();
      latInput.value = fixed(point.lat);
      lngInput.value = fixed(point.lng);
      useInput.checked = true;
      status("Region centre at " + fixed(point.lat) + ", " + fixed(point.lng) + ", " + radiusInput.value + " km around.");
      draw(false);
    });
    [latInput, lngInput, radiusInput, useInput].forEach(function (input) {
      input.addEventListener("change", function () { draw(input === radiusInput); });
    });
    draw(true);
  }

  var KINDS = {
    "own-location": ownLocationMap,
    "own-area": ownAreaMap,
    activities: activitiesMap,
    venue: venueMap,
    "venue-picker": venuePickerMap,
    "region-picker": regionPickerMap,
  };
  document.querySelectorAll("[data-map]").forEach(function (el) {
    var build = KINDS[el.dataset.map];
    if (build) { build(el); }
  });
})();

// Opened from a folder (file://), the browser refuses the page fetches with which Sphinx's search
// shows a snippet of each hit ("blocked by CORS policy"): there, list the hits without snippets.
if (location.protocol === "file:" && typeof DOCUMENTATION_OPTIONS !== "undefined") {
  DOCUMENTATION_OPTIONS.SHOW_SEARCH_SUMMARY = false;
}

// The download menu of each page, next to the page's own .ipynb: every notebook at once (.zip)
// and the PDF edition of the whole book.
function xentDownloads(menu) {
  const root = document.documentElement.dataset.content_root || "./";
  const items = [
    ["xent-notebooks.zip", "Every chapter with xentlib and the data", "fa-file-archive",
     "all notebooks (.zip)"],
    ["xent.pdf", "The whole book as one PDF", "fa-file-pdf", "the book (.pdf)"],
  ];
  for (const [file, title, icon, text] of items) {
    const item = document.createElement("li");
    item.innerHTML =
      '<a href="' + root + file + '" class="btn btn-sm dropdown-item" ' +
      'title="' + title + '" data-bs-placement="left" data-bs-toggle="tooltip">' +
      '<span class="btn__icon-container"><i class="fas ' + icon + '" aria-hidden="true"></i>' +
      '</span><span class="btn__text-container">' + text + "</span></a>";
    menu.appendChild(item);
  }
}

// Accessible names that match what the theme's buttons show (WCAG 2.5.3, label in name):
// - the search buttons are named "Search" and show "Search Ctrl+K": their name becomes what they
//   show, and the shortcut is also given as aria-keyshortcuts;
// - the colour-mode button shows one icon, whose title ("Light", "Dark", "System Settings")
//   differs from the button's name "Color mode": the icons are decoration, and the name says
//   which mode is on.
function xentButtonNames() {
  for (const button of document.querySelectorAll(".search-button-field")) {
    button.setAttribute("aria-label", button.textContent.replace(/\s+/g, " ").trim());
    if (button.querySelector(".search-button__kbd-shortcut")) {
      button.setAttribute("aria-keyshortcuts", "Control+K");
    }
  }
  const names = { light: "light", dark: "dark", auto: "as the system" };
  const modeButtons = document.querySelectorAll(".theme-switch-button");
  for (const button of modeButtons) {
    for (const icon of button.querySelectorAll("i")) icon.setAttribute("aria-hidden", "true");
  }
  const label = () => {
    const mode = document.documentElement.dataset.mode || "auto";
    for (const button of modeButtons) {
      button.setAttribute("aria-label", "Color mode: " + (names[mode] || mode));
    }
  };
  label();
  new MutationObserver(label).observe(document.documentElement,
                                      { attributes: true, attributeFilter: ["data-mode"] });
}

document.addEventListener("DOMContentLoaded", () => {
  const menu = document.querySelector(".dropdown-download-buttons ul");
  if (menu) xentDownloads(menu);
  xentButtonNames();
});

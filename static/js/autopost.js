// The test platform's form_post response: send the id_token on to the tool.
document.getElementById("autopost").submit();
